// Reserved for the prom-client integration.
export {}

fn main() {
    napi_build::setup();
    // The fault guard for reads of memory that may vanish (src/shared/fault.rs).
    if std::env::var_os("CARGO_CFG_UNIX").is_some() {
        println!("cargo:rerun-if-changed=src/shared/fault.c");
        cc::Build::new()
            .file("src/shared/fault.c")
            .warnings(true)
            .extra_warnings(true)
            .warnings_into_errors(true)
            .compile("nodeperf_fault");
    }
}

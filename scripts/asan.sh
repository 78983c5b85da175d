#!/usr/bin/env bash
# The Rust unit tests (`cargo test --lib`) under AddressSanitizer, with the
# nightly toolchain (`rustup toolchain install nightly`). ~40 s from clean on
# 2 cores. Extra arguments go to `cargo test` (e.g. a test name filter).
#
#   scripts/asan.sh            or    npm run test:asan
#
# - Only our crates are instrumented (std is not rebuilt); fault.c is built
#   by build.rs as usual, and its SIGSEGV handler coexists with ASan's
#   (the shared::fault test faults on purpose and passes).
# - `--cfg nodeperf_asan` swaps mimalloc for the system allocator
#   (src/alloc.rs): ASan only checks blocks it allocated itself.
# - The lib test binary links outside Node: napi-rs resolves Node-API at
#   run time, and the one libuv symbol the tests reach has a stand-in in
#   src/uv.rs (cfg(test)).
# - A separate target directory, so the usual builds keep their artefacts.
set -euo pipefail
cd "$(dirname "$0")/.."
host="$(rustc +nightly -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Zsanitizer=address --cfg nodeperf_asan"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/asan}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
exec cargo +nightly test --lib --target "$host" "$@"

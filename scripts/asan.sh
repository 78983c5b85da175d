#!/usr/bin/env bash
# AddressSanitizer, with the nightly toolchain (`rustup toolchain install
# nightly`), in two parts (~4.5 min in all on 2 cores, from clean):
#
#   1. unit: the Rust unit tests (`cargo test --lib`) under ASan (~35 s).
#   2. node: scripts/asan-node.js builds the addon with -Zsanitizer=address
#      (recoverable) and runs the JS specs, bench/shared-stress.mjs (every
#      case) and a short bench/pool-soak.mjs on it, with ASan's runtime
#      preloaded into Node (which is not instrumented: only our code's
#      accesses are checked) and every report logged to
#      target/asan/reports/. It fails on a failing spec or stress script
#      and on any report that scripts/asan-allow.txt does not list: the
#      listed ones are the cases that break the zero-copy contract on
#      purpose (a buffer transferred away and freed while a pool thread
#      reads it), whose tasks must all end in ERR_NODEPERF_DETACHED.
#
#   scripts/asan.sh                or    npm run test:asan    both parts
#   scripts/asan.sh unit [args]    part 1; args go to `cargo test` (e.g. a test name filter)
#   scripts/asan.sh node [specs]   part 2; optionally only these spec files
#
# - Only our crates are instrumented (std is not rebuilt); fault.c is built
#   by build.rs as usual, and its SIGSEGV handler coexists with ASan's
#   (the shared::fault test faults on purpose and passes; under Node, ASan's
#   own SIGSEGV handler is off, see scripts/asan-node.js).
# - `--cfg nodeperf_asan` swaps mimalloc for the system allocator
#   (src/alloc.rs): ASan only checks blocks it allocated itself.
# - The lib test binary links outside Node: napi-rs resolves Node-API at
#   run time, and the one libuv symbol the tests reach has a stand-in in
#   src/uv.rs (cfg(test)).
# - A separate target directory (target/asan), so the usual builds keep
#   their artefacts.
set -euo pipefail
cd "$(dirname "$0")/.."
part="${1:-all}"
case "$part" in
  unit | node) shift ;;
  all) [ $# -eq 0 ] || shift ;;
  *) echo "scripts/asan.sh: unknown part '$part' (unit, node, or nothing for both)" >&2; exit 2 ;;
esac

if [ "$part" = all ] || [ "$part" = unit ]; then
  host="$(rustc +nightly -vV | sed -n 's/^host: //p')"
  echo "---- test:asan: Rust unit tests"
  RUSTFLAGS="-Zsanitizer=address --cfg nodeperf_asan" \
    CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/asan}" \
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}" \
    cargo +nightly test --lib --target "$host" "$@"
fi
if [ "$part" = all ] || [ "$part" = node ]; then
  node scripts/asan-node.js "$@"
fi

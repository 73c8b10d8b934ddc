#!/usr/bin/env bash
# Side by side: `edgeroute cache replay` (release build) and the PyPI package `libcachesim`
# (Python bindings over libCacheSim's C library) on the same Zipf trace: miss counts (LRU and
# FIFO must match exactly; S3-FIFO too, as edgeroute follows libCacheSim's S3FIFO) and
# throughput. Usage: benches/libcachesim/run.sh [compare.py options]   (see compare.py --help)
#
# Environment: VENV (default: $TMPDIR/edgeroute-libcachesim-venv), CARGO_TARGET_DIR.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${VENV:-${TMPDIR:-/tmp}/edgeroute-libcachesim-venv}"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import libcachesim, numpy' 2>/dev/null; then
  if ! "$venv/bin/pip" install --quiet libcachesim numpy; then
    echo "warning: pip install libcachesim failed; running edgeroute only" >&2
    "$venv/bin/pip" install --quiet numpy || true
  fi
fi

(cd "$root" && cargo build --release --quiet -p edgeroute-cli)
target="${CARGO_TARGET_DIR:-$root/target}"
exec "$venv/bin/python" "$here/compare.py" --edgeroute "$target/release/edgeroute" "$@"

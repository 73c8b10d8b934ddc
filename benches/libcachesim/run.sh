#!/usr/bin/env bash
# Side by side: `edgeroute cache replay` (release build) and the PyPI package `libcachesim`
# (Python bindings over libCacheSim's C library, the library behind its `cachesim` tool) on the
# same Zipf trace and the same capacities: miss counts (LRU, FIFO, CLOCK, SIEVE and S3-FIFO must
# be equal) and speed (CPU time by default, see compare.py --help; ratio = ours / theirs).
#
# Not part of CI. From a fresh checkout (needs cargo, python3 with venv, and network for pip):
#   benches/libcachesim/run.sh                        # 10M requests, lru,fifo,s3fifo, 4 capacities
#   benches/libcachesim/run.sh --requests 100000 --policies lru,fifo,clock,sieve,s3fifo,wtinylfu
#   benches/libcachesim/run.sh --binary --repeat 3    # also libCacheSim's binary trace reader
# The trace is generated once into --workdir (default $TMPDIR or /tmp, ~165 MB for 10M rows) and
# reused. Exit status 1 if a miss count differs from libCacheSim's.
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
echo "# edgeroute $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$root" && git diff --quiet HEAD -- crates 2>/dev/null || echo ' (modified)')"
exec "$venv/bin/python" "$here/compare.py" --edgeroute "$target/release/edgeroute" "$@"

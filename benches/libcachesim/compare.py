#!/usr/bin/env python3
"""Replay one Zipf trace through `edgeroute cache replay` and libCacheSim; compare.

Prints, per policy and cache size: both miss counts (and whether they are equal), and both
throughputs in millions of requests per second (median of --repeat runs), with their ratio
(edgeroute / libCacheSim: above 1 means edgeroute is faster).

edgeroute is timed as a process (`cache replay` on the CSV: parse + replay + exit). libCacheSim
is timed around `process_trace` in this process, on the same CSV (its CSV reader) and, with
--binary, on the same requests in its own oracleGeneral binary format (its fastest reader).
Both are timed in CPU seconds (user + system: the child's rusage for edgeroute, this process's
for libCacheSim), which a busy machine disturbs far less than wall-clock time; --wall reports
wall-clock time instead. edgeroute parses on a second thread by default (its CPU time counts
both threads); --threads 1 runs it on one core, the per-core comparison.

Counting is cachesim's: every request counts, no warm-up. Sizes are >= 1 because libCacheSim
skips zero-size requests by default. Timestamps stay far below libCacheSim's default TTL.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

try:
    import libcachesim as lcs
except ImportError:  # reported in the table
    lcs = None


def generate(path, n_req, n_obj, alpha, seed):
    """Zipf(alpha) over n_obj objects (inverse CDF), per-object sizes 64 B..4 KiB."""
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(1.0 / np.arange(1, n_obj + 1, dtype=np.float64) ** alpha)
    cdf /= cdf[-1]
    perm = rng.permutation(n_obj).astype(np.uint64) + 1  # rank -> key, not in rank order
    sizes = rng.integers(1, 65, size=n_obj, dtype=np.uint64) * 64
    with open(path, "w") as f:
        f.write("timestamp,key,size\n")
        chunk = 1_000_000
        for start in range(0, n_req, chunk):
            m = min(chunk, n_req - start)
            ranks = np.minimum(np.searchsorted(cdf, rng.random(m)), n_obj - 1)
            ts = (np.arange(start, start + m, dtype=np.uint64)) // 1000
            rows = np.stack([ts, perm[ranks], sizes[ranks]], axis=1)
            np.savetxt(f, rows, fmt="%d", delimiter=",")
    return path


def load_trace(csv_path):
    """The trace as an (n, 3) uint64 array: timestamp, key, size (header skipped)."""
    with open(csv_path, "rb") as f:
        f.readline()
        data = f.read()
    # numpy's C text parser; far faster than loadtxt on millions of rows.
    flat = np.fromstring(data.replace(b"\n", b","), dtype=np.uint64, sep=",")  # noqa: NPY201
    return flat.reshape(-1, 3)


def to_oracle_general(data, bin_path):
    """libCacheSim's oracleGeneral: <u32 time, u64 id, u32 size, i64 next access vtime>."""
    rec = np.zeros(len(data), dtype=[("t", "<u4"), ("id", "<u8"), ("sz", "<u4"), ("nv", "<i8")])
    rec["t"], rec["id"], rec["sz"], rec["nv"] = data[:, 0], data[:, 1], data[:, 2], -1
    rec.tofile(bin_path)


def working_set(csv_path):
    """(requests, distinct keys, bytes of distinct objects), cached beside the trace."""
    meta = csv_path + ".meta.json"
    if os.path.exists(meta) and os.path.getmtime(meta) >= os.path.getmtime(csv_path):
        with open(meta) as f:
            m = json.load(f)
        return m["requests"], m["keys"], m["bytes"], None
    data = load_trace(csv_path)
    keys, idx = np.unique(data[:, 1], return_index=True)
    m = {"requests": len(data), "keys": len(keys), "bytes": int(data[idx, 2].sum())}
    with open(meta, "w") as f:
        json.dump(m, f)
    return m["requests"], m["keys"], m["bytes"], data


def cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cpu_self():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


WALL = False
THREADS = None


def run_edgeroute(exe, trace, policy, cap, objects):
    cmd = [exe, "cache", "replay", "--trace", trace, "--policy", policy,
           "--capacity", str(cap), "--format", "json"] + (["--objects"] if objects else [])
    if THREADS is not None:
        cmd += ["--threads", str(THREADS)]
    t, c = time.perf_counter(), cpu_children()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    elapsed = time.perf_counter() - t if WALL else cpu_children() - c
    return json.loads(out), elapsed


LCS_NAMES = {"lru": "LRU", "fifo": "FIFO", "clock": "Clock", "sieve": "Sieve",
             "s3fifo": "S3FIFO", "wtinylfu": "WTinyLFU"}


def run_lcs(trace, ttype, policy, cap, objects):
    if ttype == "csv":
        p = lcs.ReaderInitParam(has_header=True, has_header_set=True, delimiter=",",
                                ignore_obj_size=objects)
        p.time_field, p.obj_id_field, p.obj_size_field = 1, 2, 3
        reader = lcs.TraceReader(trace, lcs.TraceType.CSV_TRACE, p)
    else:
        p = lcs.ReaderInitParam(ignore_obj_size=objects)
        reader = lcs.TraceReader(trace, lcs.TraceType.ORACLE_GENERAL_TRACE, p)
    cache = getattr(lcs, LCS_NAMES[policy])(cap)
    t, c = time.perf_counter(), cpu_self()
    miss_ratio, byte_miss_ratio = cache.process_trace(reader)
    elapsed = time.perf_counter() - t if WALL else cpu_self() - c
    return miss_ratio, elapsed


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edgeroute", required=True)
    ap.add_argument("--requests", type=int, default=10_000_000)
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--policies", default="lru,fifo,s3fifo")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--wall", action="store_true", help="time wall clock instead of CPU time")
    ap.add_argument("--threads", type=int, choices=[1, 2],
                    help="edgeroute's --threads (default: its own, two on a multi-core machine)")
    ap.add_argument("--binary", action="store_true", help="also time libCacheSim's binary reader")
    ap.add_argument("--trace", help="reuse this CSV trace instead of generating one")
    ap.add_argument("--workdir", default=tempfile.gettempdir())
    args = ap.parse_args()
    global WALL, THREADS
    WALL = args.wall
    THREADS = args.threads

    trace = args.trace or os.path.join(
        args.workdir, f"zipf-{args.alpha}-{args.objects}-{args.requests}-{args.seed}.csv")
    if not os.path.exists(trace):
        print(f"generating {trace} ...", file=sys.stderr)
        generate(trace, args.requests, args.objects, args.alpha, args.seed)
    n_req, n_keys, ws_bytes, data = working_set(trace)
    binary = None
    if args.binary and lcs is not None:
        binary = trace + ".oracleGeneral.bin"
        if not os.path.exists(binary):
            to_oracle_general(load_trace(trace) if data is None else data, binary)
    del data

    print(f"# trace: {n_req} requests, {n_keys} objects, Zipf({args.alpha}), "
          f"working set {ws_bytes} bytes")
    print(f"# machine: {cpu_model()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at start; libcachesim "
          f"{getattr(lcs, '__version__', 'NOT INSTALLED') if lcs else 'NOT INSTALLED'}; "
          f"timing: {'wall clock' if WALL else 'CPU time'}, median of {args.repeat}; "
          f"edgeroute threads: {THREADS or 'default'}")
    sizes = [(max(1, n_keys // 100), True), (max(1, n_keys // 10), True),
             (max(1, ws_bytes // 100), False), (max(1, ws_bytes // 10), False)]
    cols = ["policy", "capacity", "edgeroute misses", "libcachesim misses", "equal",
            "edgeroute Mreq/s", "libcachesim csv Mreq/s"]
    if binary:
        cols.append("libcachesim bin Mreq/s")
    cols.append("speed ratio (csv)")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    all_equal = True
    for policy in args.policies.split(","):
        for cap, objects in sizes:
            ours = [run_edgeroute(args.edgeroute, trace, policy, cap, objects)
                    for _ in range(args.repeat)]
            report = ours[0][0]
            ours_t = statistics.median(t for _, t in ours)
            row = [policy, f"{cap} {'objects' if objects else 'bytes'}", str(report["misses"])]
            if lcs is None:
                row += ["n/a", "n/a", f"{n_req / ours_t / 1e6:.2f}", "n/a", "n/a"]
            else:
                theirs = [run_lcs(trace, "csv", policy, cap, objects) for _ in range(args.repeat)]
                lcs_misses = round(theirs[0][0] * n_req)
                lcs_t = statistics.median(t for _, t in theirs)
                equal = lcs_misses == report["misses"]
                if policy in ("lru", "fifo", "s3fifo", "clock", "sieve"):
                    all_equal &= equal
                row += [str(lcs_misses), "yes" if equal else "NO",
                        f"{n_req / ours_t / 1e6:.2f}", f"{n_req / lcs_t / 1e6:.2f}"]
                if binary:
                    bins = [run_lcs(binary, "bin", policy, cap, objects)
                            for _ in range(args.repeat)]
                    row.append(f"{n_req / statistics.median(t for _, t in bins) / 1e6:.2f}")
                row.append(f"{lcs_t / ours_t:.2f}x")
            print("| " + " | ".join(row) + " |", flush=True)
    print(f"# load average {os.getloadavg()[0]:.1f} at the end")
    if lcs is not None and not all_equal:
        print("MISMATCH: a miss count differs from libCacheSim's", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Benchmark: cnnlib's conv2d (loops and vectorized) against tf.nn.conv2d.

Run with ``make bench`` (or ``python bench/bench_conv.py``). Prints a table and
rewrites the conv2d section of bench/RESULTS.md.

Method: the implementations run in one process on the same arrays, in
interleaved blocks (cnnlib, TensorFlow, cnnlib, ...). Each block is one
untimed warm-up call and then BLOCK timed calls, and blocks are separated by a
pause. Each library is thus timed warm, as a user running only that library
would see it, and not while the other library's worker threads are still
spinning: OpenBLAS and TensorFlow both keep their threads busy-waiting for a
moment after each call, and on 2 cores timing one right after the other
charges those spinning threads to whichever runs second (measured here: up to
2x either way). Each figure is the median over all timed calls. The machine's
matrix-multiply rate (NumPy, 2048x2048) is measured in the same run so
GFLOP/s can be read as a fraction of what this machine can do.
"""

import os
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.results import write_section  # noqa: E402
from cnnlib import ops  # noqa: E402

# name, (N, H, W, C_in), filters, kernel
SIZES = [
    ("small", (1, 28, 28, 1), 8, 3),
    ("mid", (32, 28, 28, 16), 32, 3),
    ("large", (64, 32, 32, 64), 64, 3),
]
ROUNDS = 7
BLOCK = 3
PAUSE_S = 0.1
# The loop version needs seconds per call on the larger sizes; it is timed on
# this many images and scaled to the full batch (marked "~" in the table).
NAIVE_IMAGES = {"small": 1, "mid": 2, "large": 1}
NAIVE_ROUNDS = 3


def timed(fn, rounds):
    """Median wall time of fn() over rounds, after one warm-up call."""
    fn()
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def interleaved(fns, rounds=ROUNDS, block=BLOCK, pause=PAUSE_S):
    """Median time of each fn, timed in warm blocks that alternate between the fns."""
    samples = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            time.sleep(pause)
            fn()  # warm-up: wake this library's threads, touch its buffers
            for _ in range(block):
                t0 = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - t0)
    return {name: statistics.median(s) for name, s in samples.items()}


def matmul_rate(dtype, n=2048):
    """GFLOP/s of NumPy's n x n matrix product in dtype on this machine."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(dtype)
    return 2 * n**3 / timed(lambda: a @ a, 7) / 1e9


def machine_line(tf):
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"NumPy {np.__version__}, TensorFlow {tf.__version__}")


def main():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    rates = {dt: matmul_rate(dt) for dt in (np.float32, np.float64)}
    rows = []
    for dtype in (np.float32, np.float64):
        for name, shape, filters, k in SIZES:
            x = rng.standard_normal(shape).astype(dtype)
            w = rng.standard_normal((k, k, shape[3], filters)).astype(dtype)
            xt, wt = tf.constant(x), tf.constant(w)
            flops = 2 * shape[0] * shape[1] * shape[2] * k * k * shape[3] * filters  # 'same': OH=H
            ours = ops.conv2d(x, w, padding="same")
            ref = tf.nn.conv2d(xt, wt, 1, "SAME").numpy()
            err = float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref)))
            times = interleaved({
                "conv2d": lambda: ops.conv2d(x, w, padding="same"),
                "tf": lambda: tf.nn.conv2d(xt, wt, 1, "SAME").numpy(),
            })
            naive = None
            if dtype == np.float32:
                m = NAIVE_IMAGES[name]
                naive = timed(lambda: ops.conv2d_naive(x[:m], w, padding="same"), NAIVE_ROUNDS)
                naive *= shape[0] / m
                naive_est = m < shape[0]
            for impl in ("naive", "conv2d", "tf"):
                t = naive if impl == "naive" else times[impl]
                if t is None:
                    continue
                gflops = flops / t / 1e9
                rows.append({
                    "size": name, "dtype": np.dtype(dtype).name, "impl": impl,
                    "ms": t * 1e3, "approx": impl == "naive" and naive_est,
                    "ratio": t / times["tf"], "gflops": gflops,
                    "peak": gflops / rates[dtype], "err": err if impl == "conv2d" else None,
                })
            print(f"  {name} {np.dtype(dtype).name} done", file=sys.stderr)

    header = ("| size | input -> filters | dtype | implementation | median ms | x TF | GFLOP/s "
              "| of matmul peak |")
    lines = [header, "|---|---|---|---|---:|---:|---:|---:|"]
    label = {"naive": "conv2d_naive (loops)", "conv2d": "conv2d (im2col + matmul)",
             "tf": "tf.nn.conv2d"}
    spec = {name: f"{'x'.join(map(str, shape))} -> {f} @ {k}x{k}" for name, shape, f, k in SIZES}
    for r in rows:
        ms = f"{'~' if r['approx'] else ''}{r['ms']:,.2f}"
        lines.append(f"| {r['size']} | {spec[r['size']]} | {r['dtype']} | {label[r['impl']]} | {ms} "
                     f"| {r['ratio']:,.2f} | {r['gflops']:.3g} | {r['peak']:.1%} |")
    table = "\n".join(lines)
    worst = {dt: max(r["err"] for r in rows if r["err"] is not None and r["dtype"] == dt)
             for dt in ("float32", "float64")}
    tf_ratio = {(r["size"], r["dtype"]): r["ratio"] for r in rows if r["impl"] == "conv2d"}
    verdict = []
    for dt in ("float32", "float64"):
        for size in ("mid", "large"):
            ratio = tf_ratio[(size, dt)]
            verdict.append(f"{size} {dt}: {ratio:.3f}x ({'meets' if ratio <= 1.2 else 'misses'} 1.2x)")
    text = (
        f"Machine: {machine_line(tf)}. Date: {date.today().isoformat()}.\n"
        f"Command: `make bench` (bench/bench_conv.py). Padding 'same', stride 1, median of "
        f"{ROUNDS} interleaved blocks of {BLOCK} warm calls each, {PAUSE_S} s apart. The loop version is timed on "
        f"{', '.join(f'{m} image(s) of {s}' for s, m in NAIVE_IMAGES.items())} "
        f"and scaled to the whole batch where marked ~.\n"
        f"NumPy matrix-multiply peak measured in the same run: "
        f"{rates[np.float32]:.0f} GFLOP/s float32, {rates[np.float64]:.0f} GFLOP/s float64 "
        f"(2048x2048).\n\n{table}\n\n"
        f"conv2d against TensorFlow: {'; '.join(verdict)}. "
        f"Largest difference from TensorFlow, relative to the largest output: "
        f"{worst['float32']:.1e} (float32), {worst['float64']:.1e} (float64).\n"
    )
    print(text)
    write_section("conv2d forward", text)


if __name__ == "__main__":
    main()

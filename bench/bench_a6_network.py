"""Assignment 6's numbers: how its recipes land over seeds, how far validation is from test, and how long it trains.

Run with ``make bench`` (or ``python bench/bench_a6_network.py [SEEDS]``). Rewrites the
"a6 network over seeds" section of bench/RESULTS.md.

Assignment 6 trains a fixed small CNN (``cnnlib.grading.network.NETWORK``) with the
student's own layers. The grader trains from ``init_params(0)`` with seed 0 and counts
the lower of the student's and the specified training's held-out accuracy; its tiers
(``TIERS``) are read off these numbers:

- the taught recipe over ``SEEDS`` seeds (weights and order), validation and test
  accuracy, so that the threshold is not a coin toss on the seed the grader uses;
- a grid of recipes at the grader's seed: validation minus test, which the notebook
  quotes (students tune on validation);
- the same training in fresh processes with BLAS on one and on two threads (another
  summation order, as another machine's would be): how much a grading machine may differ;
- seconds per training with the solution's layers (loops over output positions) and with
  Assignment 1's sample ``conv2d`` (one ``conv_single_step`` per output value).
"""

import json
import os
import statistics
import subprocess
import sys
import time
from datetime import date
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.bench_conv import machine_line  # noqa: E402
from bench.results import write_section  # noqa: E402

SEEDS = 10
GRID = [(epochs, batch, rate) for epochs in (1, 2) for batch in (10, 20, 50) for rate in (0.1, 0.3, 0.5)]


class _TFVersion:
    __version__ = metadata.version("tensorflow-cpu")


def _solution_recipes():
    """The overfit and accuracy recipes of the instructor's notebook."""
    from tools import course

    namespace = {}
    fill = course.solution_fill("a6_network_from_scratch")
    exec(fill["overfit_recipe"], namespace)
    exec(fill["accuracy_recipe"], namespace)
    return namespace["overfit_recipe"], namespace["accuracy_recipe"]


def _student_functions(a1_conv2d=False):
    """The a6 solution's layers and train; with ``a1_conv2d`` Assignment 1's sample conv2d replaces its conv2d."""
    import numpy as np

    from tools import course

    namespace = {"np": np}
    for code in course.solution_fill("a6_network_from_scratch").values():
        exec(code, namespace)
    if a1_conv2d:
        fill = course.solution_fill("a1_convolution")
        for name in ("zero_pad", "conv_output_size", "conv_single_step", "conv2d"):
            exec(fill[name], namespace)
    return namespace


def seed_study(seeds):
    """Rows (seed, overfit accuracy on the 50, validation, test) of the taught recipes."""
    from cnnlib.grading import network as N

    overfit, recipe = _solution_recipes()
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = N._splits()
    rows = []
    for seed in range(seeds):
        fitted, _ = N.reference_train(N.init_params(seed), x_train[:N.OVERFIT_EXAMPLES], y_train[:N.OVERFIT_EXAMPLES],
                                      **overfit, seed=seed)
        trained, _ = N.reference_train(N.init_params(seed), x_train[:N.TRAIN_EXAMPLES], y_train[:N.TRAIN_EXAMPLES],
                                       **recipe, seed=seed)
        rows.append((seed, N.accuracy(fitted, x_train[:N.OVERFIT_EXAMPLES], y_train[:N.OVERFIT_EXAMPLES]),
                     N.accuracy(trained, x_val, y_val), N.accuracy(trained, x_test, y_test)))
    return rows


def grid():
    """Rows (epochs, batch size, learning rate, validation, test) at the grader's seed."""
    from cnnlib.grading import network as N

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = N._splits()
    rows = []
    for epochs, batch, rate in GRID:
        trained, _ = N.reference_train(N.init_params(N.GRADER_SEED), x_train[:N.TRAIN_EXAMPLES],
                                       y_train[:N.TRAIN_EXAMPLES], epochs, batch, rate, N.GRADER_SEED)
        rows.append((epochs, batch, rate, N.accuracy(trained, x_val, y_val), N.accuracy(trained, x_test, y_test)))
    return rows


def _one_process():
    """In a fresh process (BLAS threads fixed by the environment): the taught training's test accuracy and weights."""
    from cnnlib.grading import network as N

    _, recipe = _solution_recipes()
    (x_train, y_train), _, (x_test, y_test) = N._splits()
    params, _ = N.reference_train(N.init_params(0), x_train[:N.TRAIN_EXAMPLES], y_train[:N.TRAIN_EXAMPLES],
                                  **recipe, seed=0)
    print(json.dumps({"accuracy": N.accuracy(params, x_test, y_test),
                      "params": {k: v.ravel().tolist() for k, v in params.items()}}))


def machine_difference():
    """(accuracy on 1 thread, on 2 threads, largest relative difference of any weight)."""
    import numpy as np

    runs = []
    for threads in ("1", "2"):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
        out = subprocess.run([sys.executable, __file__, "--one-process"], env=env, capture_output=True, text=True,
                             check=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    worst = max(float(np.max(np.abs(np.subtract(runs[0]["params"][k], runs[1]["params"][k]))
                             / np.maximum(np.abs(runs[0]["params"][k]), 1e-12))) for k in runs[0]["params"])
    return runs[0]["accuracy"], runs[1]["accuracy"], worst


def timings():
    """Seconds for the overfit and the accuracy training of the taught recipes, per kind of student layers."""
    from cnnlib.grading import network as N

    overfit, recipe = _solution_recipes()
    (x_train, y_train), _, _ = N._splits()
    rows = []
    for label, a1 in (("the solution's layers (loops over output positions)", False),
                      ("Assignment 1's sample conv2d (one conv_single_step per output value)", True)):
        train = _student_functions(a1)["train"]
        for what, n, settings in (("overfit 50 digits", N.OVERFIT_EXAMPLES, overfit),
                                  ("1,000 digits", N.TRAIN_EXAMPLES, recipe)):
            start = time.perf_counter()
            train(N.init_params(0), x_train[:n], y_train[:n], **settings, seed=0)
            rows.append((label, what, time.perf_counter() - start))
    return rows


def write_results(seeds, study, table, machine, times):
    from cnnlib.grading import network as N

    overfit, recipe = _solution_recipes()
    val, test = [r[2] for r in study], [r[3] for r in study]
    lines = [f"Machine: {machine_line(_TFVersion)}; {date.today().isoformat()}. Other work shared the CPU.", "",
             f"The network: {N.NETWORK}, on the MNIST subset shrunk to 14x14, trained by "
             f"`cnnlib.grading.network.reference_train` (plain SGD, float64). The accuracy recipe trains on the first "
             f"{N.TRAIN_EXAMPLES:,} training digits; validation: the split's 1,000 validation digits; test: the "
             f"1,000 held-out digits the grader measures.", "",
             f"**Taught recipes over {seeds} seeds** (the seed draws the starting weights and the order of the "
             f"examples; the grader uses seed {N.GRADER_SEED}): overfit {overfit}, accuracy {recipe}.", "",
             "| seed | overfit: right of 50 | validation | test |", "|---:|---:|---:|---:|"]
    lines += [f"| {seed} | {fit:.0%} | {v:.1%} | {t:.1%} |" for seed, fit, v, t in study]
    lines += ["", f"Test accuracy min / median / max: {min(test):.1%} / {statistics.median(test):.1%} / "
                  f"{max(test):.1%}; validation {min(val):.1%} / {statistics.median(val):.1%} / {max(val):.1%}.", "",
              f"**Recipes at the grader's seed** ({N.GRADER_SEED}):", "",
              "| epochs | batch | learning rate | validation | test | validation - test |",
              "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {e} | {b} | {r} | {v:.1%} | {t:.1%} | {100 * (v - t):+.1f} |" for e, b, r, v, t in table]
    gaps = [v - t for *_, v, t in table if v > 0.5]
    lines += ["", f"Validation minus test over the recipes that learn (validation above 50%): "
                  f"{100 * min(gaps):+.1f} to {100 * max(gaps):+.1f} points.", "",
              f"**Another machine:** the taught training in fresh processes with BLAS on one and on two threads: "
              f"test accuracy {machine[0]:.1%} and {machine[1]:.1%}; the largest relative difference of any trained "
              f"weight {machine[2]:.1e}.", "",
              "**Seconds per training** (the student's train, no profile hook, as the grader runs it):", "",
              "| layers | training | s |", "|---|---|---:|"]
    lines += [f"| {label} | {what} | {secs:.1f} |" for label, what, secs in times]
    lines += ["", f"Tiers the grader uses (share of the cell's points from held-out accuracy): {N.TIERS}."]
    write_section("a6 network over seeds", "\n".join(lines))
    print("\n".join(lines))


def main():
    if sys.argv[1:2] == ["--one-process"]:
        _one_process()
        return
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else SEEDS
    write_results(seeds, seed_study(seeds), grid(), machine_difference(), timings())


if __name__ == "__main__":
    main()

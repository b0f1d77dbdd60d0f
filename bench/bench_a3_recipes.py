"""Seed study: how far Assignment 3's recipes land from their thresholds, and from a dense network.

Run with ``make bench`` (or ``python bench/bench_a3_recipes.py [SEEDS]``). Rewrites the
"a3 recipes over seeds" section of bench/RESULTS.md.

The grader trains each student's model itself, on the 4,000 training digits only, with
the student's recipe, and measures it on the 1,000 held-out digits
(``cnnlib.grading.training``). This script does the same for the recipe the notebook
teaches and for dense networks given the same budget, over ``SEEDS`` seeds, and with
TensorFlow and cnnlib's BLAS on one thread and on two (a different reduction order,
as another machine's CPU would give). The thresholds and tiers in ``cnnlib/grading/training.py``
are read off these numbers: the taught recipe must clear the full-credit threshold
on every seed with margin, and a dense network must miss the lowest tier on every seed.
"""

import statistics
import sys
import time
from datetime import date
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.bench_conv import machine_line  # noqa: E402
from bench.results import write_section  # noqa: E402

SEEDS = 10


class _TFVersion:
    __version__ = metadata.version("tensorflow-cpu")


def _cnnlib_cnn():
    from cnnlib import layers
    return [layers.Conv2D(16, 3, kernel_initializer="he_uniform"), layers.ReLU(), layers.MaxPool2D(2),
            layers.Conv2D(32, 3, kernel_initializer="he_uniform"), layers.ReLU(), layers.MaxPool2D(2),
            layers.Flatten(), layers.Dense(10)]


def _cnnlib_dense():
    from cnnlib import layers
    return [layers.Flatten(), layers.Dense(128, kernel_initializer="he_uniform"), layers.ReLU(), layers.Dense(10)]


def _keras_cnn():
    import tensorflow as tf
    k = tf.keras.layers
    return tf.keras.Sequential([tf.keras.Input((28, 28, 1)),
                                k.Conv2D(32, 3, activation="relu"), k.MaxPooling2D(2),
                                k.Conv2D(64, 3, activation="relu"), k.MaxPooling2D(2),
                                k.Flatten(), k.Dropout(0.5), k.Dense(128, activation="relu"), k.Dropout(0.3),
                                k.Dense(10)])


def _keras_dense():
    import tensorflow as tf
    k = tf.keras.layers
    return tf.keras.Sequential([tf.keras.Input((28, 28, 1)), k.Flatten(), k.Dense(256, activation="relu"),
                                k.Dropout(0.3), k.Dense(128, activation="relu"), k.Dense(10)])


def _study_keras(seeds, threads):
    """Keras rows, in a process whose TensorFlow uses ``threads`` intra-op threads (set before any op)."""
    import tensorflow as tf

    from cnnlib.grading import training as T

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    rows = []
    for name, build in (("CNN 32/64, dense 128, dropout", _keras_cnn), ("dense 256/128, dropout", _keras_dense)):
        accs, secs, notebook = [], [], []
        for seed in range(seeds):
            tf.keras.utils.set_random_seed(seed)
            model = build()
            start = time.perf_counter()
            accs.append(T.train_and_measure(model, T.KERAS_RECIPE, "keras", seed=seed))
            secs.append(time.perf_counter() - start)
            if build is _keras_cnn and threads == 1:
                notebook.append(T.train_and_validate(model, T.KERAS_RECIPE, "keras", seed=seed))
        rows.append((name, "keras", T.KERAS_RECIPE, threads, accs, statistics.median(secs), notebook))
        print(f"  keras {name}, {threads} thread(s): {min(accs):.3f}-{max(accs):.3f}", file=sys.stderr)
    return rows


def _study_cnnlib(seeds, threads):
    """cnnlib rows, in a process whose BLAS uses ``threads`` threads (set in its environment before NumPy loads)."""
    from cnnlib import Sequential
    from cnnlib.grading import training as T

    rows = []
    for name, build in (("course CNN", _cnnlib_cnn), ("dense 128", _cnnlib_dense)):
        accs, secs, notebook = [], [], []
        for seed in range(seeds):
            model = Sequential(build(), input_shape=(28, 28, 1), seed=seed)
            start = time.perf_counter()
            accs.append(T.train_and_measure(model, T.CNNLIB_RECIPE, "cnnlib", seed=seed))
            secs.append(time.perf_counter() - start)
            if build is _cnnlib_cnn and threads == 1:
                notebook.append(T.train_and_validate(model, T.CNNLIB_RECIPE, "cnnlib", seed=seed))
        rows.append((name, "cnnlib", T.CNNLIB_RECIPE, threads, accs, statistics.median(secs), notebook))
        print(f"  cnnlib {name}, {threads} thread(s): {min(accs):.3f}-{max(accs):.3f}", file=sys.stderr)
    return rows


def study(seeds=SEEDS):
    """Rows of (model, library, recipe, threads, [held-out accuracy per seed], seconds per training,
    [validation accuracy the notebook shows, per seed: the CNNs on one thread only]).

    Every configuration runs in a fresh process: TensorFlow's threads are fixed at its first op,
    BLAS's when NumPy loads.
    """
    import json
    import os
    import subprocess

    rows = []
    for library in ("cnnlib", "keras"):
        for threads in (1, 2):
            env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
            run = subprocess.run([sys.executable, __file__, f"--{library}", str(seeds), str(threads)],
                                 capture_output=True, text=True, check=True, env=env)
            rows += [tuple(row) for row in json.loads(run.stdout.strip().splitlines()[-1])]
    return rows


def machine_spread(rows):
    """{(library, model): largest |accuracy on 1 thread - on 2 threads| over the seeds}.

    That is how far another machine's arithmetic may move an accuracy."""
    by_key = {}
    for name, library, _, threads, accs, *_ in rows:
        by_key.setdefault((library, name), {})[threads] = accs
    return {key: max(abs(a - b) for a, b in zip(runs[1], runs[2])) for key, runs in by_key.items()
            if 1 in runs and 2 in runs}


def write_results(rows, seeds):
    from cnnlib.grading import training as T

    lines = [f"Machine: {machine_line(_TFVersion)}; {date.today().isoformat()}.", "",
             f"Each model trained by `cnnlib.grading.training.train_and_measure` (what the grader runs) on the "
             f"4,000 training digits with the notebook's recipe, then measured on the 1,000 held-out digits; "
             f"{seeds} seeds each, each configuration in a fresh process with TensorFlow's and BLAS's threads set to "
             f"one and to two (another reduction order, as on another machine). Other work shared the CPU.", "",
             "| library | model | recipe | threads | held-out accuracy: min / median / max | s per training |",
             "|---|---|---|---:|---|---:|"]
    for name, library, recipe, threads, accs, secs, _ in rows:
        recipe_text = ", ".join(f"{k} {v}" for k, v in recipe.items())
        lines.append(f"| {library} | {name} | {recipe_text} | {threads} | {min(accs):.1%} / "
                     f"{statistics.median(accs):.1%} / {max(accs):.1%} | {secs:.1f} |")
    lines += ["", "Held-out accuracy per seed (seed 0 first):", ""]
    lines += [f"- {library} {name}, {threads} thread(s): {', '.join(f'{a:.1%}' for a in accs)}"
              for name, library, _, threads, accs, *_ in rows]
    spread = machine_spread(rows)
    for name, library, _, threads, accs, _, notebook in rows:
        if notebook:
            gaps = [held_out - shown for held_out, shown in zip(accs, notebook)]
            lines += ["", f"{library} {name}: the notebook's number (trained on 3,000 digits, measured on the 1,000 "
                          f"validation digits) per seed: {', '.join(f'{v:.1%}' for v in notebook)}; the grader's "
                          f"held-out accuracy minus it: {100 * min(gaps):+.1f} to {100 * max(gaps):+.1f} points "
                          f"(median {100 * statistics.median(gaps):+.1f})."]
    lines += ["", "Another machine (another summation order, emulated by one against two threads, same seed): the "
                  "largest change of one seed's held-out accuracy was "
              + ", ".join(f"{library} {name} {100 * value:.1f} points" for (library, name), value in spread.items())
              + ".", "", f"Tiers the grader uses (fraction of the cell's points from held-out accuracy): "
                         f"cnnlib {T.TIERS['cnnlib']}, Keras {T.TIERS['keras']}."]
    write_section("a3 recipes over seeds", "\n".join(lines))
    print("\n".join(lines))


def main():
    if sys.argv[1:2] in (["--keras"], ["--cnnlib"]):
        import json

        study_one = _study_keras if sys.argv[1] == "--keras" else _study_cnnlib
        print(json.dumps(study_one(int(sys.argv[2]), int(sys.argv[3]))))
        return
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else SEEDS
    write_results(study(seeds), seeds)


if __name__ == "__main__":
    main()

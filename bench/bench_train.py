"""Benchmark: time to reach a held-out accuracy on the MNIST subset, cnnlib against Keras.

Run with ``make bench`` (or ``python bench/bench_train.py``). Rewrites the
"training on the MNIST subset" section of bench/RESULTS.md.

Both libraries train the same network, (conv 3x3 -> ReLU -> max-pool 2) x 2 ->
dense 10, from the same initial weights (Keras's copy comes from
``to_keras``), with Adam(1e-3), batches of 32 and the cross-entropy of the
logits, on the 4,000 training digits of ``load_mnist_subset()``. After every
epoch each is evaluated on the 1,000 held-out digits; "time to X%" is the
wall time from the start of training to the end of the first epoch whose
held-out accuracy reaches X%, evaluation included. A wider Keras network
(32 and 64 filters, a 128-unit hidden layer, dropout) shows what Keras reaches
when it is given more capacity.
"""

import os
import sys
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.bench_conv import machine_line  # noqa: E402
from bench.results import write_section  # noqa: E402
from cnnlib import layers as L  # noqa: E402
from cnnlib.data import load_mnist_subset  # noqa: E402
from cnnlib.model import Sequential  # noqa: E402
from cnnlib.optim import Adam  # noqa: E402

EPOCHS = 12
THRESHOLDS = (0.95, 0.97)


def course_cnn(seed=0, dtype="float32"):
    """The course's small CNN: (conv 3x3 -> ReLU -> max-pool 2) x 2 -> dense 10, 12,810 weights.
    tests/test_model.py trains the same network."""
    return Sequential([L.Conv2D(16, 3, kernel_initializer="he_uniform"), L.ReLU(), L.MaxPool2D(2),
                       L.Conv2D(32, 3, kernel_initializer="he_uniform"), L.ReLU(), L.MaxPool2D(2),
                       L.Flatten(), L.Dense(10)], input_shape=(28, 28, 1), seed=seed, dtype=dtype)


def keras_history(tf, model, train, test, epochs):
    """Train a Keras model; return (held-out accuracy per epoch, seconds at the end of each epoch)."""
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    times = []

    class Clock(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - start)

    start = time.perf_counter()
    hist = model.fit(*train, epochs=epochs, batch_size=32, validation_data=test, verbose=0, callbacks=[Clock()])
    return hist.history["val_accuracy"], times


def first_reaching(accuracies, times, threshold):
    for acc, t in zip(accuracies, times):
        if acc >= threshold:
            return t
    return None


def main():
    import tensorflow as tf
    from cnnlib.keras_bridge import to_keras

    train, test = load_mnist_subset()
    runs = {}

    model = course_cnn()
    keras_same = to_keras(model)            # same architecture, same initial weights
    history = model.fit(*train, epochs=EPOCHS, batch_size=32, optimizer=Adam(1e-3), validation_data=test,
                        verbose=0)
    runs["cnnlib, course CNN"] = (history["val_accuracy"], history["time"], model.count_params())
    print("  cnnlib done", file=sys.stderr)

    tf.keras.utils.set_random_seed(0)
    runs["Keras, same CNN and initial weights"] = (*keras_history(tf, keras_same, train, test, EPOCHS),
                                                   keras_same.count_params())
    print("  keras done", file=sys.stderr)

    k = tf.keras.layers
    tf.keras.utils.set_random_seed(0)
    wider = tf.keras.Sequential([tf.keras.Input((28, 28, 1)), k.Conv2D(32, 3, activation="relu"), k.MaxPooling2D(2),
                                 k.Conv2D(64, 3, activation="relu"), k.MaxPooling2D(2), k.Flatten(),
                                 k.Dropout(0.5), k.Dense(128, activation="relu"), k.Dense(10)])
    runs["Keras, wider CNN (32/64 filters, dense 128, dropout)"] = (*keras_history(tf, wider, train, test, EPOCHS),
                                                                     wider.count_params())
    print("  keras wider done", file=sys.stderr)

    def fmt(t):
        return "not reached" if t is None else f"{t:.1f} s"

    lines = ["| run | parameters | time to 95% | time to 97% | best held-out accuracy (epoch) "
             f"| accuracy after {EPOCHS} epochs | seconds per epoch |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, (accs, times, params) in runs.items():
        best = int(np.argmax(accs))
        lines.append(f"| {name} | {params:,} | {fmt(first_reaching(accs, times, 0.95))} "
                     f"| {fmt(first_reaching(accs, times, 0.97))} | {accs[best]:.1%} ({best + 1}) "
                     f"| {accs[-1]:.1%} | {times[-1] / len(times):.2f} |")
    curves = "\n".join(f"- {name}: " + ", ".join(f"{a:.3f}" for a in accs) for name, (accs, _, _) in runs.items())
    text = (f"Machine: {machine_line(tf)}. Date: {date.today().isoformat()}.\n"
            f"Command: `make bench` (bench/bench_train.py). {EPOCHS} epochs each, Adam(1e-3), batch 32, "
            f"4,000 training / 1,000 held-out digits of `load_mnist_subset()`, held-out accuracy after every "
            f"epoch (evaluation time included).\n\n" + "\n".join(lines) +
            f"\n\nHeld-out accuracy after each epoch:\n\n{curves}\n")
    print(text)
    write_section("training on the MNIST subset", text)


if __name__ == "__main__":
    main()

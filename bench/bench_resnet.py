"""Benchmark: a small ResNet and its plain twin on the MNIST subset, in cnnlib and in Keras.

Run with ``make bench`` (or ``python bench/bench_resnet.py``). Rewrites the
"residual networks on the MNIST subset" section of bench/RESULTS.md.

The ResNet is a stem (conv 3x3, batch normalization, ReLU, max-pool 2) and
three of ResNet's basic blocks (16, 32 and 64 filters, the last two halving the
size through a strided 1x1 projection), global average pooling and a dense
layer: 78,426 weights. The plain network has the same layers without the
shortcuts (so no projections): each block's branch followed by a ReLU. Each is
trained in cnnlib and, from the same initial weights (``to_keras``), in Keras:
Adam(1e-3), batches of 32, the 4,000 training digits of ``load_mnist_subset()``,
held-out accuracy on the 1,000 test digits after every epoch (in inference
mode: batch normalization's moving averages). The course CNN of
bench/bench_train.py is trained the same way for comparison. "Seconds per
epoch" includes the evaluation after each epoch, for both libraries.
"""

import os
import sys
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.bench_conv import machine_line  # noqa: E402
from bench.bench_train import course_cnn, keras_history  # noqa: E402
from bench.results import write_section  # noqa: E402
from cnnlib import layers as L  # noqa: E402
from cnnlib.blocks import resnet_block  # noqa: E402
from cnnlib.data import load_mnist_subset  # noqa: E402
from cnnlib.model import Sequential  # noqa: E402
from cnnlib.optim import Adam  # noqa: E402

EPOCHS = 10
WIDTHS = (16, 32, 64)
# 125 steps per epoch: Keras's default momentum (0.99) would leave the moving averages of the
# first epochs far from the statistics the weights produce; 0.9 follows them within ~20 steps.
MOMENTUM = 0.9


def _stem():
    return [L.Conv2D(WIDTHS[0], 3, padding="same", use_bias=False, kernel_initializer="he_normal"),
            L.BatchNormalization(MOMENTUM), L.ReLU(), L.MaxPool2D(2)]


def small_resnet(seed=0, dtype="float32"):
    """The benchmark's ResNet: stem, basic blocks of 16, 32 (stride 2) and 64 (stride 2) filters, global
    average pooling, dense 10. The blocks that change the size or the channels have a 1x1 projection."""
    layers = _stem()
    previous = WIDTHS[0]
    for i, width in enumerate(WIDTHS):
        layers += [resnet_block(width, strides=1 if i == 0 else 2, projection=width != previous,
                                momentum=MOMENTUM), L.ReLU()]
        previous = width
    layers += [L.GlobalAveragePooling2D(), L.Dense(10)]
    return Sequential(layers, input_shape=(28, 28, 1), seed=seed, dtype=dtype)


def small_plain(seed=0, dtype="float32"):
    """The same network without shortcuts: each block's branch (conv-BN-ReLU-conv-BN) and a ReLU."""
    layers = _stem()
    for i, width in enumerate(WIDTHS):
        layers += resnet_block(width, strides=1 if i == 0 else 2, projection=False, momentum=MOMENTUM).branch
        layers.append(L.ReLU())
    layers += [L.GlobalAveragePooling2D(), L.Dense(10)]
    return Sequential(layers, input_shape=(28, 28, 1), seed=seed, dtype=dtype)


def main():
    import tensorflow as tf
    from cnnlib.keras_bridge import to_keras

    train, test = load_mnist_subset()
    runs = {}
    for name, build in (("small ResNet", small_resnet), ("plain twin (no shortcuts)", small_plain),
                        ("course CNN", course_cnn)):
        model = build()
        keras_model = to_keras(model)            # same architecture, same initial weights
        history = model.fit(*train, epochs=EPOCHS, batch_size=32, optimizer=Adam(1e-3), validation_data=test,
                            verbose=0)
        runs[f"cnnlib, {name}"] = (history["val_accuracy"], history["time"], model.count_params())
        print(f"  cnnlib {name} done", file=sys.stderr)
        tf.keras.utils.set_random_seed(0)
        runs[f"Keras, {name}"] = (*keras_history(tf, keras_model, train, test, EPOCHS), keras_model.count_params())
        print(f"  Keras {name} done", file=sys.stderr)
    write_results(tf, runs)


def write_results(tf, runs):
    """Write the section of RESULTS.md from {run: (accuracies, times, parameters)}."""
    lines = [f"| run | parameters | seconds per epoch | x Keras | best held-out accuracy (epoch) "
             f"| accuracy after {EPOCHS} epochs |", "|---|---:|---:|---:|---:|---:|"]
    for name, (accs, times, params) in runs.items():
        per_epoch = times[-1] / len(times)
        twin = runs.get(name.replace("cnnlib, ", "Keras, "))
        ratio = f"{per_epoch / (twin[1][-1] / len(twin[1])):.2f}" if name.startswith("cnnlib") else "1.00"
        best = int(np.argmax(accs))
        lines.append(f"| {name} | {params:,} | {per_epoch:.2f} | {ratio} | {accs[best]:.1%} ({best + 1}) "
                     f"| {accs[-1]:.1%} |")
    curves = "\n".join(f"- {name}: " + ", ".join(f"{a:.3f}" for a in accs) for name, (accs, _, _) in runs.items())
    text = (f"Machine: {machine_line(tf)}. Date: {date.today().isoformat()}.\n"
            f"Command: `make bench` (bench/bench_resnet.py). {EPOCHS} epochs each, Adam(1e-3), batch 32, "
            f"4,000 training / 1,000 held-out digits of `load_mnist_subset()`; each Keras twin starts from "
            f"the cnnlib network's initial weights (`to_keras`). Batch normalization momentum {MOMENTUM}.\n\n"
            + "\n".join(lines) + f"\n\nHeld-out accuracy after each epoch:\n\n{curves}\n")
    print(text)
    write_section("residual networks on the MNIST subset", text)


if __name__ == "__main__":
    main()

"""Sequential: a stack of layers that trains as a classifier.

The last layer's output is read as class scores (logits); the loss is
:func:`cnnlib.backprop.softmax_cross_entropy`, so do not end the stack with a
softmax. One training step is

    logits = forward(x_batch, training=True)
    loss, dlogits = softmax_cross_entropy(logits, y_batch)
    backward(dlogits)                   # every layer fills its grads
    optimizer.step(params, grads)

and ``fit`` repeats it over shuffled mini-batches for a number of epochs.
"""

import time

import numpy as np

from . import backprop, ops
from .arguments import as_real_array, check_int
from .layers import Layer, unique_names
from .tracing import Trace, walk
from .optim import Adam

__all__ = ["Sequential", "History"]

# fit() (and predict/evaluate) run NumPy's matrix products on this many threads. A course-sized
# network's products are small; with a second OpenBLAS thread they gain
# little, and the thread's busy-waiting after each product slowed the copies
# in between by up to 3x on 2-core machines, depending on the process
# (measured: epochs of 0.83-1.4 s with 2 threads, a steady 0.86 s with 1).
FIT_BLAS_THREADS = 1


class History:
    """What ``fit`` returns: ``history`` maps "loss", "accuracy", "val_loss",
    "val_accuracy" and "time" (seconds since fit started, at the end of each
    epoch) to one value per epoch. ``history["loss"]`` also works on the object."""

    def __init__(self):
        self.history = {"loss": [], "accuracy": []}
        self.epoch = []

    def __getitem__(self, key):
        return self.history[key]

    def __repr__(self):
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.history.items() if v)
        return f"History({len(self.epoch)} epochs: {last})"


class Sequential:
    """Layers applied one after another to NHWC images, ending in class scores.

    Arguments:
        layers: a list of :class:`cnnlib.layers.Layer`.
        input_shape: shape of one example, e.g. (28, 28, 1); when given the
            weights are created at once, otherwise on the first forward.
        seed: seeds every layer that has no seed of its own, so that the same
            seed gives the same initial weights (and dropout masks).
        dtype: dtype of the weights of layers that do not set their own
            (float32 for training; float64 to compare with references).

    Raises:
        TypeError: something in ``layers`` is not a Layer.
        ValueError: a layer cannot take its input's shape (the message names it).
    """

    def __init__(self, layers, input_shape=None, seed=None, dtype="float32"):
        self.layers = list(layers)
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}] must be a cnnlib.layers.Layer, got {type(layer).__name__}")
        if not self.layers:
            raise ValueError("layers must not be empty")
        self._unique_names()
        self.seed = seed
        self.dtype = np.dtype(dtype)
        self.input_shape = None
        if input_shape is not None:
            self.build(input_shape)

    def _unique_names(self):
        """Keras's convention: conv2d, conv2d_1, conv2d_2, ..."""
        unique_names(self.layers)

    @property
    def built(self):
        return self.input_shape is not None

    def build(self, input_shape):
        """Create every layer's weights for examples of ``input_shape``; return the output shape."""
        input_shape = tuple(int(n) for n in input_shape)
        seeds = np.random.SeedSequence(self.seed).spawn(len(self.layers))
        shape = input_shape
        for layer, seq in zip(self.layers, seeds):
            try:
                shape = layer.build(shape, rng=np.random.default_rng(seq), dtype=self.dtype)
            except ValueError as err:
                raise ValueError(f"layer {layer.name} ({layer!r}) cannot take inputs of shape "
                                 f"{shape}: {err}") from None
        self.input_shape = input_shape
        return shape

    # -- the passes ---------------------------------------------------------

    def forward(self, x, training=False):
        """Class scores (logits) for a batch x of shape (N, *input_shape): (N, classes)."""
        x = self.check_input(x)
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    __call__ = forward

    def backward(self, dout, input_grad=True):
        """Backpropagate dL/dlogits through every layer (filling their grads); return dL/dx.

        ``input_grad=False`` lets the first layer skip dL/dx (training never
        needs the gradient with respect to the images) and returns None.
        """
        for i in reversed(range(len(self.layers))):
            dout = self.layers[i].backward(dout, input_grad=input_grad or i > 0)
        return dout

    def parameters(self):
        """List of (layer name, weight name, weight array) for every weight, in a fixed order."""
        return [(layer.name, key, value) for layer in self.layers for key, value in layer.params.items()]

    def gradients(self):
        """The gradient arrays, in the order of :meth:`parameters`."""
        return [layer.grads[key] for layer in self.layers for key in layer.params]

    def all_weights(self):
        """List of (layer name, weight name, array) for every weight, trained or not, in Keras's order.

        The trained ones (:meth:`parameters`) and the ones forward updates
        (BatchNormalization's moving statistics), layer by layer.
        """
        return [(layer.name, key, value) for layer in self.layers for key, value in layer.weights()]

    def get_weights(self):
        """Copies of every weight array, in the order of :meth:`all_weights` (Keras's ``get_weights`` order)."""
        return [value.copy() for _, _, value in self.all_weights()]

    def set_weights(self, weights):
        """Overwrite the weights with arrays given in the order of :meth:`all_weights`."""
        current = self.all_weights()
        weights = list(weights)
        if len(weights) != len(current):
            raise ValueError(f"expected {len(current)} arrays, got {len(weights)}")
        for (lname, key, value), new in zip(current, weights):
            new = np.asarray(new)
            if new.shape != value.shape:
                raise ValueError(f"{lname}.{key} has shape {value.shape}, got {new.shape}")
            value[...] = new

    def count_params(self):
        """Number of weights, trained or not (Keras's "Total params")."""
        return sum(layer.count_params() for layer in self.layers)

    def count_trainable_params(self):
        """Number of weights training changes (Keras's "Trainable params")."""
        return sum(layer.count_trainable_params() for layer in self.layers)

    # -- reading the architecture ---------------------------------------------

    def table(self, expand_nested=False):
        """One row per layer: (name, type, output shape with None for the batch, parameters).

        A block (:mod:`cnnlib.blocks`) is one row, with all its weights, as a
        nested model is in Keras's summary. ``expand_nested=True`` adds a row
        for each of its layers after it, the name indented by "  " per level.
        The rows come from :func:`cnnlib.tracing.walk`, the course's one tracer.
        """
        self._require_built("table")
        return [("  " * t.depth + t.name, type(t.node).__name__, (None, *t.output_shape), t.params)
                for t in self._walk() if expand_nested or t.depth == 0]

    def trace(self):
        """The model as :func:`cnnlib.architectures.trace` shows a spec: a :class:`cnnlib.tracing.Trace`
        with every layer's output shape, parameters and receptive field (a block is one row)."""
        self._require_built("trace")
        return Trace.of("sequential", self.input_shape, [t for t in self._walk() if t.depth == 0])

    def _walk(self):
        return walk(self.layers, self.input_shape, containers_first=True, unique_names=False)

    def summary(self, print_fn=print, expand_nested=False):
        """Print a table of layers, output shapes and parameter counts, as Keras's summary does.

        The totals are Keras's: every weight, then the trained ones and the
        others (BatchNormalization's moving statistics) apart.
        """
        rows = [(f"{name} ({kind})", str(shape), f"{count:,}")
                for name, kind, shape, count in self.table(expand_nested)]
        header = ("Layer (type)", "Output Shape", "Param #")
        widths = [max(len(r[i]) for r in rows + [header]) + 2 for i in range(3)]
        line = "-" * sum(widths)
        fmt = lambda r: f"{r[0]:<{widths[0]}}{r[1]:<{widths[1]}}{r[2]:>{widths[2]}}"  # noqa: E731
        total, trainable = self.count_params(), self.count_trainable_params()
        text = [f'Model: "sequential"  input (None, {", ".join(map(str, self.input_shape))})',
                line, fmt(header), "=" * sum(widths), *map(fmt, rows), "=" * sum(widths),
                f"Total params: {total:,}", f"Trainable params: {trainable:,}",
                f"Non-trainable params: {total - trainable:,}"]
        print_fn("\n".join(text))

    # -- training -------------------------------------------------------------

    def _require_built(self, what):
        if not self.built:
            raise RuntimeError(f"{what} needs the model built: pass input_shape= or call build() first")

    def check_input(self, x):
        """x as a batch this model takes: (N, *input_shape) in the model's dtype (builds the model
        on its first batch). Raises ValueError naming both shapes when they differ."""
        x = as_real_array("x", x)
        if x.ndim < 2 or x.shape[0] == 0:
            raise ValueError(f"x must be a non-empty batch (N, *input_shape), got shape {x.shape}")
        if not self.built:
            self.build(x.shape[1:])
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"the model takes examples of shape {self.input_shape}, "
                             f"got x.shape={x.shape}")
        return x.astype(self.dtype, copy=False)

    def _check_xy(self, x, y, name="x"):
        x = self.check_input(x)
        y = as_real_array("y", y)
        if y.shape != (x.shape[0],):
            raise ValueError(f"y must hold one integer class per example of {name}, shape "
                             f"({x.shape[0]},), got {y.shape}")
        if y.dtype.kind not in "iu":
            raise TypeError(f"y must hold integer classes, got dtype {y.dtype}")
        return x, y

    def fit(self, x, y, epochs=1, batch_size=32, optimizer=None, validation_data=None,
            shuffle=True, seed=0, verbose=1):
        """Train on (x, y) with mini-batch gradient descent.

        Arguments:
            x: images (N, *input_shape); y: integer classes (N,).
            epochs: passes over the data.
            batch_size: examples per step.
            optimizer: an :mod:`cnnlib.optim` optimizer (default ``Adam()``).
                Pass the same one to later calls to continue training.
            validation_data: optional (x_val, y_val), evaluated after each epoch.
            shuffle: shuffle the examples every epoch (with ``seed``).
            verbose: 1 shows a progress bar per epoch (a widget in a notebook,
                text in a terminal), 0 shows nothing.

        Training and inference differ for some layers: every training step
        runs them with ``training=True`` (Dropout drops, BatchNormalization
        normalizes with the batch's statistics and moves its moving averages),
        while the validation after each epoch, ``evaluate`` and ``predict``
        run with ``training=False`` (no dropout, the moving averages), as Keras does.

        Returns:
            A :class:`History` with the mean training loss and accuracy of each
            epoch (as Keras reports them: averaged over the epoch's batches,
            computed in training mode),
            the validation loss and accuracy, and the elapsed time.

        Raises:
            ValueError, TypeError: shapes or dtypes of x and y that do not fit.
        """
        from threadpoolctl import threadpool_limits
        from tqdm.auto import tqdm

        x, y = self._check_xy(x, y)
        if validation_data is not None:
            if len(validation_data) != 2:
                raise ValueError("validation_data must be a pair (x_val, y_val)")
            x_val, y_val = self._check_xy(*validation_data, name="x_val")
            self._check_classes(y_val)
        self._check_classes(y)
        epochs = check_int("epochs", epochs, 1)
        batch_size = check_int("batch_size", batch_size, 1)
        optimizer = optimizer if optimizer is not None else Adam()
        self.optimizer = optimizer
        history = History()
        if validation_data is not None:
            history.history.update(val_loss=[], val_accuracy=[])
        history.history["time"] = []
        validation = None if validation_data is None else (x_val, y_val)
        with threadpool_limits(FIT_BLAS_THREADS, user_api="blas"):
            self._train(x, y, epochs, batch_size, optimizer, validation, shuffle, seed, verbose,
                        history, tqdm)
        return history

    def _train(self, x, y, epochs, batch_size, optimizer, validation_data, shuffle, seed, verbose,
               history, tqdm):
        """fit's loop, on checked arguments."""
        rng = np.random.default_rng(seed)
        params = [value for _, _, value in self.parameters()]
        n = x.shape[0]
        start = time.perf_counter()
        for epoch in range(epochs):
            order = rng.permutation(n) if shuffle else np.arange(n)
            total_loss = total_correct = seen = 0
            bar = tqdm(range(0, n, batch_size), desc=f"epoch {epoch + 1}/{epochs}", unit="batch",
                       disable=not verbose, leave=True)
            for first in bar:
                idx = order[first:first + batch_size]
                logits = self.forward(x[idx], training=True)
                loss, dlogits = backprop.softmax_cross_entropy(logits, y[idx])
                self.backward(dlogits, input_grad=False)
                optimizer.step(params, self.gradients())
                total_loss += float(loss) * len(idx)
                total_correct += int(np.sum(np.argmax(logits, axis=1) == y[idx]))
                seen += len(idx)
                bar.set_postfix(loss=f"{total_loss / seen:.4f}", accuracy=f"{total_correct / seen:.4f}",
                                refresh=False)
            history.history["loss"].append(total_loss / seen)
            history.history["accuracy"].append(total_correct / seen)
            if validation_data is not None:
                val_loss, val_acc = self.evaluate(*validation_data)
                history.history["val_loss"].append(val_loss)
                history.history["val_accuracy"].append(val_acc)
                bar.set_postfix(loss=f"{total_loss / seen:.4f}", accuracy=f"{total_correct / seen:.4f}",
                                val_accuracy=f"{val_acc:.4f}")
            bar.close()
            history.history["time"].append(time.perf_counter() - start)
            history.epoch.append(epoch)

    def _check_classes(self, y):
        classes = self.layers[-1].output_shape
        if classes is not None and len(classes) == 1 and y.size and (y.min() < 0 or y.max() >= classes[0]):
            bad = y[(y < 0) | (y >= classes[0])][0]
            raise ValueError(f"labels must be in [0, {classes[0]}) for a model with {classes[0]} "
                             f"outputs, got {bad}")

    def predict_logits(self, x, batch_size=256):
        """Class scores (N, classes), computed batch_size examples at a time."""
        from threadpoolctl import threadpool_limits

        x = self.check_input(x)
        batch_size = check_int("batch_size", batch_size, 1)
        with threadpool_limits(FIT_BLAS_THREADS, user_api="blas"):   # as in fit(): see FIT_BLAS_THREADS
            return np.concatenate([self.forward(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])

    def predict(self, x, batch_size=256):
        """Class probabilities (N, classes): the softmax of the logits."""
        return ops.softmax(self.predict_logits(x, batch_size), axis=1)

    def evaluate(self, x, y, batch_size=256):
        """(mean cross-entropy loss, accuracy) on (x, y), as Python floats."""
        x, y = self._check_xy(x, y)
        self._check_classes(y)
        logits = self.predict_logits(x, batch_size)
        loss, _ = backprop.softmax_cross_entropy(logits, y)
        return float(loss), float(np.mean(np.argmax(logits, axis=1) == y))

    def __repr__(self):
        inner = ",\n    ".join(repr(layer) for layer in self.layers)
        return f"Sequential([\n    {inner},\n])"

"""Checks for Assignment 4: layer tables against Keras, occlusion maps and saliency maps."""

import numpy as np

from ..arguments import int_pair
from . import wire
from .core import Case, CheckFailed, Mistake, call_student, measure_difference, suite_rng, run_cases, same_as


def _keras_layer_rows(layers, input_shape):
    """(output shape, parameter count) of each layer spec, as Keras builds it.

    Specs: ``("conv", filters, kernel, stride, padding)``, ``("maxpool", size, stride)``,
    ``("avgpool", size, stride)``, ``("flatten",)``, ``("dense", units)``. Integer conv
    padding becomes a ZeroPadding2D in front of a 'valid' Conv2D (Keras has no
    integer padding); the row reports the Conv2D.
    """
    import tensorflow as tf

    k = tf.keras.layers
    x = tf.keras.Input(tuple(input_shape))
    rows = []
    for spec in layers:
        kind = spec[0]
        if kind == "conv":
            _, filters, size, stride, padding = spec
            if padding:
                x = k.ZeroPadding2D(padding)(x)
            layer = k.Conv2D(filters, size, strides=stride)
        elif kind in ("maxpool", "avgpool"):
            _, size, stride = spec
            layer = (k.MaxPooling2D if kind == "maxpool" else k.AveragePooling2D)(size, stride)
        elif kind == "flatten":
            layer = k.Flatten()
        elif kind == "dense":
            layer = k.Dense(spec[1])
        else:
            raise ValueError(f"unknown layer kind {kind!r} in {spec!r}")
        x = layer(x)
        rows.append((tuple(int(d) for d in x.shape[1:]), int(layer.count_params())))
    return rows


def _layer_row_diagnosis(spec, shape_in, expected, got):
    """Why a student's (shape, params) row for ``spec`` differs from Keras's, when a usual mistake explains it."""
    (exp_shape, exp_params), (got_shape, got_params) = expected, got
    kind = spec[0]
    if kind in ("maxpool", "avgpool", "flatten") and got_params != 0:
        return "pooling and flattening have no parameters: they only rearrange or summarise values"
    if kind == "conv" and got_params != exp_params:
        _, f, k, _, _ = spec
        c = shape_in[-1]
        if got_params == k * k * c * f:
            return "the conv layer's bias is missing: each filter has one bias (+F)"
        if got_params == k * k * f + f:
            return "the kernel's depth is missing: each filter spans all C_in input channels (K*K*C_in*F + F)"
        if got_params == (k * k + 1) * c * f:
            return "the bias is counted per input channel: each filter has one bias, (K*K*C_in + 1)*F"
    if kind == "dense" and got_params != exp_params:
        units, d = spec[1], shape_in[-1] if len(shape_in) == 1 else None
        if d is not None and got_params == d * units:
            return "the dense layer's bias is missing: D*units + units"
        if len(shape_in) > 1:
            return "a dense layer needs a flat input: flatten first"
    if kind == "conv" and got_shape != exp_shape and len(shape_in) == 3:
        _, f, k, s, p = spec
        h, w, _ = shape_in
        if got_shape == ((h - k) // s + 1, (w - k) // s + 1, f):
            return "the padding is ignored in the output size: use (H + 2P - K) // S + 1"
        if got_shape == (h + 2 * p - k + 1, w + 2 * p - k + 1, f):
            return "the stride is ignored in the output size: divide by S"
        if got_shape[:2] == exp_shape[:2] and got_shape[2] == shape_in[2]:
            return "a conv layer's output has one channel per filter (F), not the input's channel count"
    if kind in ("maxpool", "avgpool") and got_shape != exp_shape and len(shape_in) == 3:
        _, size, stride = spec
        h, w, c = shape_in
        if got_shape == (h - size + 1, w - size + 1, c):
            return "the pooling stride is ignored in the output size: (H - size) // stride + 1"
    if kind == "flatten" and got_shape != exp_shape:
        return "flatten gives one axis holding H*W*C values"
    return None


def _read_rows(got, layers, expected):
    """The student's rows as ``[(shape tuple, int)]``, or :class:`CheckFailed` saying which row is not of that form."""
    __tracebackhide__ = True
    if not isinstance(got, (list, tuple)):
        raise CheckFailed(f"layer_table must return a list of (output_shape, params) pairs, one per layer; "
                          f"got {type(got).__name__}")
    rows = []
    for number, row in enumerate(got, 1):
        spec = layers[number - 1] if number <= len(layers) else None
        if not isinstance(row, (list, tuple)) or len(row) != 2:
            raise CheckFailed(f"layer_table's row {number} ({spec!r}) must be a pair (output_shape, params), "
                              f"got {row!r}")
        shape, params = row
        if isinstance(shape, (int, np.integer)):
            want = expected[number - 1][0] if number <= len(expected) else None
            raise CheckFailed(
                f"layer_table's row {number} ({spec!r}) gives the output shape as the int {int(shape)}; an output "
                f"shape is always a tuple, also when it has one axis: write ({int(shape)},), as Keras does"
                + (f" (expected {want})" if want is not None else ""))
        try:
            rows.append((tuple(int(d) for d in shape), int(params)))
        except (TypeError, ValueError) as err:
            raise CheckFailed(f"layer_table's row {number} ({spec!r}) must be (output_shape, params): a tuple of "
                              f"ints and an int, got {row!r} ({type(err).__name__}: {err})") from None
    return rows


def check_layer_table(layer_table, layers, input_shape, network="the network"):
    """Check ``layer_table(layers, input_shape)``: each layer's output shape and parameter count.

    Arguments:
        layer_table: the student's function; it returns one ``(output_shape, params)``
            per layer spec, the shape without the batch axis as a tuple of ints (a 1-tuple
            such as ``(9216,)`` for flatten and dense layers; a bare int is refused by name).
        layers: the network as specs (see :func:`_keras_layer_rows` for the format).
        input_shape: (H, W, C).
        network: its name, for messages.

    The expected rows come from building the same layers in Keras
    (``layer.output.shape``, ``layer.count_params()``).

    Raises:
        CheckFailed: at the first layer that differs, with a diagnosis.
    """
    __tracebackhide__ = True
    expected = _keras_layer_rows(layers, input_shape)
    case = Case({"layers": list(layers), "input_shape": tuple(input_shape)}, network)
    got = call_student("layer_table", layer_table, case, allow_reference=False)
    rows = _read_rows(got, layers, expected)
    if len(rows) != len(expected):
        raise CheckFailed(f"layer_table returned {len(rows)} rows for the {len(layers)} layers of {network}")
    shape_in = tuple(input_shape)
    for number, (spec, want, have) in enumerate(zip(layers, expected, rows), 1):
        if want != have:
            lines = [f"layer_table is wrong for {network} at layer {number} {spec!r} (input {shape_in}):",
                     f"  expected output shape {want[0]} and {want[1]:,} parameters (Keras),",
                     f"  got output shape {have[0]} and {have[1]:,} parameters"]
            why = _layer_row_diagnosis(spec, shape_in, want, have)
            if why:
                lines.append(f"  diagnosis: {why}")
            raise CheckFailed("\n".join(lines))
        shape_in = want[0]
    total = sum(p for _, p in rows)
    print(f"layer_table: all {len(rows)} layers of {network} agree with Keras ({total:,} parameters).")



class QuadrantModel:
    """A classifier whose scores depend only on the top-left quadrant of the image.

    ``predict(batch)`` maps (N, H, W, C) images to (N, 3) probabilities; the
    logits are fixed functions of the mean value of each channel in the
    top-left quadrant. Occluding anything else changes nothing.
    """

    def __init__(self, h, w, c, seed):
        rng = np.random.default_rng(seed)
        self.h, self.w = h // 2, w // 2
        self.weights = rng.normal(size=(c, 3)) * 4
        self.bias = rng.normal(size=3)

    def predict(self, batch):
        batch = np.asarray(batch, dtype=np.float64)
        features = batch[:, :self.h, :self.w, :].mean(axis=(1, 2))
        logits = np.tanh(features @ self.weights) * 3 + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)


# (H, W, C, patch, stride, fill, label)
_OCCLUSION_PUBLIC = [(8, 8, 1, 2, 2, 0.0, 0), (10, 12, 3, 3, 1, 0.5, 2), (9, 7, 2, (2, 3), (1, 2), 0.0, 1)]
_OCCLUSION_HIDDEN = [(12, 10, 1, 4, 2, 0.0, 1), (7, 9, 3, (3, 2), (2, 1), 0.25, 0), (6, 6, 2, 1, 1, 1.0, 2)]


def _occlusion_cases(suite):
    rng = suite_rng(16, suite)
    table = _OCCLUSION_PUBLIC + (_OCCLUSION_HIDDEN if suite == "hidden" else [])
    cases = []
    for number, (h, w, c, patch, stride, fill, label) in enumerate(table):
        model = wire.lend(QuadrantModel(h, w, c, seed=100 + number),
                          "cnnlib.grading.visualization:QuadrantModel", h=h, w=w, c=c, seed=100 + number)
        cases.append(Case({"predict_fn": model.predict, "image": rng.random((h, w, c)), "label": label,
                           "patch_size": patch, "stride": stride, "fill": fill},
                          "the model looks only at the top-left quadrant"))
    return cases


def _shifted_stride_map(predict_fn, image, label, patch_size, stride, fill, transpose=False):
    """Occlusion drop with every patch at (i, j) stride 1 (a 'stride ignored' map), or with axes swapped."""
    from ..viz import occlusion_map

    if transpose:
        ph, pw = int_pair(patch_size)
        sh, sw = int_pair(stride)
        flipped = occlusion_map(lambda b: predict_fn(np.swapaxes(b, 1, 2)), np.swapaxes(image, 0, 1), label,
                                (pw, ph), (sw, sh), fill)
        return flipped.T
    return occlusion_map(predict_fn, image, label, patch_size, 1, fill)


def check_occlusion_map(occlusion_map, suite="public", allow_reference=False):
    """Check ``occlusion_map(predict_fn, image, label, patch_size, stride, fill)`` against cnnlib.viz.

    Each case's classifier depends only on the top-left quadrant of the image,
    so the right map is zero wherever the patch misses that quadrant. Entry
    [i, j] is p(label | image) minus p(label | image with the patch at
    (i*stride, j*stride) set to ``fill``).

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    __tracebackhide__ = True
    from .. import viz

    def reference(predict_fn, image, label, patch_size, stride, fill):
        return viz.occlusion_map(predict_fn, image, label, patch_size, stride, fill)

    mistakes = [
        Mistake("the map holds p(label) of the occluded images; the course's map is the drop, "
                "p(label | original) - p(label | occluded), so that high means important",
                same_as(lambda predict_fn, image, label, patch_size, stride, fill:
                          predict_fn(image[None])[0, label] - reference(predict_fn, image, label, patch_size,
                                                                        stride, fill))),
        Mistake("the drop has the wrong sign: p(label | original) - p(label | occluded)",
                same_as(lambda **a: -reference(**a))),
        Mistake("the stride is ignored: patch (i, j) starts at row i*stride, column j*stride",
                same_as(lambda **a: _shifted_stride_map(**a))),
        Mistake("rows and columns are swapped: entry [i, j] is the patch at row i*sh, column j*sw "
                "(patch_size and stride are (rows, columns))",
                same_as(lambda **a: _shifted_stride_map(**a, transpose=True))),
        Mistake("the patch is filled with 0 whatever `fill` says",
                same_as(lambda **a: reference(**{**a, "fill": 0.0}))),
        Mistake("the map must have one entry per patch position: "
                "((H - patch_h) // stride_h + 1, (W - patch_w) // stride_w + 1)",
                lambda case, got: got.ndim != 2),
    ]
    run_cases("occlusion_map", occlusion_map, _occlusion_cases(suite), reference, mistakes,
               allow_reference=allow_reference, rtol=1e-6, atol=1e-9)


def _quadrant_keras_model(h, w, c, seed):
    """A small Keras CNN (logits out) whose class scores use only the top-left quadrant's activations."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    k = tf.keras.layers
    model = tf.keras.Sequential([tf.keras.Input((h, w, c)), k.Conv2D(4, 3, padding="same", activation="tanh"),
                                 k.Flatten(), k.Dense(3)])
    conv_w = rng.normal(size=(3, 3, c, 4)).astype(np.float32)
    conv_b = rng.normal(size=4).astype(np.float32) * 0.1
    mask = np.zeros((h, w, 4), np.float32)
    mask[:h // 2 - 1, :w // 2 - 1, :] = 1.0        # the receptive fields stay inside the quadrant
    dense_w = (rng.normal(size=(h * w * 4, 3)) * mask.reshape(-1, 1)).astype(np.float32)
    model.set_weights([conv_w, conv_b, dense_w, np.zeros(3, np.float32)])
    return model


def _input_gradient(model, image, label):
    import tensorflow as tf

    x = tf.convert_to_tensor(np.asarray(image, dtype=np.float32)[None])
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = model(x)[0, label]
    return tape.gradient(score, x)[0].numpy().astype(np.float64)


def check_saliency_map(saliency_map, suite="public", allow_reference=False):
    """Check ``saliency_map(model, image, label)`` (max over channels of |d score / d pixel|) against cnnlib.viz.

    Each case's Keras model uses only the top-left quadrant of the image, so
    the right map is exactly zero outside it. The student may (and should) use
    TensorFlow; calling cnnlib's own saliency_map fails.

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    __tracebackhide__ = True
    from .. import viz

    rng = suite_rng(17, suite)
    table = [(8, 8, 1, 0), (10, 12, 3, 2)] + ([(12, 9, 2, 1), (6, 10, 3, 0)] if suite == "hidden" else [])
    cases = [Case({"model": _quadrant_keras_model(h, w, c, seed=200 + i), "image": rng.random((h, w, c)),
                   "label": label}, "the model looks only at the top-left quadrant")
             for i, (h, w, c, label) in enumerate(table)]

    def gradient_variant(reduce):
        return same_as(lambda model, image, label: reduce(_input_gradient(model, image, label)))

    mistakes = [
        Mistake("the absolute value is missing: saliency is the size of the gradient, max |g| over channels",
                gradient_variant(lambda g: g.max(axis=-1))),
        Mistake("the channels are summed: take the maximum of |gradient| over the channel axis",
                gradient_variant(lambda g: np.abs(g).sum(axis=-1))),
        Mistake("the channels are averaged: take the maximum of |gradient| over the channel axis",
                gradient_variant(lambda g: np.abs(g).mean(axis=-1))),
        Mistake("the map keeps the channel axis: reduce |gradient| with a max over it, giving (H, W)",
                lambda case, got: got.shape == case.args["image"].shape and got.ndim == 3),
        Mistake("the gradient is taken of another class's score: use model(x)[0, label]",
                lambda case, got: any(
                    measure_difference(np.abs(_input_gradient(case.args["model"], case.args["image"], c)).max(axis=-1),
                                       got, 1e-4, 1e-6) is None
                    for c in range(3) if c != case.args["label"])),
    ]

    def reference(model, image, label):
        return viz.saliency_map(model, image, label)

    run_cases("saliency_map", saliency_map, cases, reference, mistakes, allow_reference=allow_reference,
               rtol=1e-4, atol=1e-6, forbid=frozenset({"cnnlib"}))

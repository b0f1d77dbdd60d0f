"""Checks for Assignment 3: softmax_cross_entropy, dense_backward and a trained model's accuracy."""

import functools

import numpy as np

from .. import backprop, ops
from ..gradcheck import numerical_gradient
from .core import Case, CheckFailed, Mistake, _call_student, _report_gradcheck, _rng, _run_cases, _same_as


def check_softmax_cross_entropy(softmax_cross_entropy, suite="public", allow_reference=False):
    """Check ``softmax_cross_entropy(logits, labels)`` -> ``(mean loss, dlogits)``.

    Cases include a batch of one, many classes, and logits of several hundred
    (where exp overflows unless the row maximum is subtracted first).

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    __tracebackhide__ = True
    rng = _rng(14, suite)
    sizes = [(4, 3), (1, 10), (6, 5)] + ([(8, 2), (3, 7)] if suite == "hidden" else [])
    cases = [Case({"logits": rng.normal(scale=2, size=s), "labels": rng.integers(0, s[1], size=s[0])})
             for s in sizes]
    big = rng.normal(scale=300, size=(4, 6))
    big[0, 0] = 800.0
    cases.append(Case({"logits": big, "labels": np.array([0, 5, 2, 3])}, "large logits"))
    ref = backprop.softmax_cross_entropy

    def probs(logits):
        return ops.softmax(logits, axis=1)

    mistakes = [
        Mistake("the loss is summed over the batch: return the mean",
                _same_as(lambda logits, labels: ref(logits, labels)[0] * len(logits)), "loss"),
        Mistake("the loss is not a single number: average -log p[label] over the batch",
                lambda case, got: got.ndim > 0, "loss"),
        Mistake("exp overflowed (nan or inf): subtract each row's maximum from the logits before exp",
                lambda case, got: not np.all(np.isfinite(got)), "loss"),
        Mistake("the loss uses log(p) without the minus sign", _same_as(
            lambda logits, labels: -ref(logits, labels)[0]), "loss"),
        Mistake("dlogits is not divided by N: the loss is a mean, so its gradient carries 1/N",
                _same_as(lambda logits, labels: ref(logits, labels)[1] * len(logits)), "dlogits"),
        Mistake("dlogits is the softmax alone: subtract 1 at each row's true class",
                _same_as(lambda logits, labels: probs(logits) / len(logits)), "dlogits"),
        Mistake("dlogits is the softmax alone and not divided by N: (softmax - one_hot) / N",
                _same_as(lambda logits, labels: probs(logits)), "dlogits"),
        Mistake("dlogits has the wrong sign: it is (softmax - one_hot) / N",
                _same_as(lambda logits, labels: -ref(logits, labels)[1]), "dlogits"),
        Mistake("exp overflowed (nan or inf): subtract each row's maximum from the logits before exp",
                lambda case, got: not np.all(np.isfinite(got)), "dlogits"),
        Mistake("dlogits must have the logits' shape (N, K)",
                lambda case, got: got.shape != case.args["logits"].shape, "dlogits"),
    ]
    _run_cases("softmax_cross_entropy", softmax_cross_entropy, cases, ref, mistakes,
               outputs=("loss", "dlogits"), allow_reference=allow_reference)
    logits, labels = rng.normal(size=(5, 4)), rng.integers(0, 4, size=5)
    got = _call_student("softmax_cross_entropy", softmax_cross_entropy,
                        Case({"logits": logits, "labels": labels}, "gradient check"), allow_reference)
    numeric = numerical_gradient(lambda v: ops.cross_entropy(v, labels, from_logits=True), logits.copy())
    _report_gradcheck("softmax_cross_entropy", "dlogits", got[1] if isinstance(got, (tuple, list)) else got,
                      numeric)


def check_dense_backward(dense_backward, suite="public", allow_reference=False):
    """Check ``dense_backward(dout, x, w)`` -> ``(dx, dw, db)`` for ``x @ w + b``.

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    __tracebackhide__ = True
    rng = _rng(15, suite)
    sizes = [(4, 3, 2), (1, 5, 3), (6, 2, 7)] + ([(3, 8, 4), (7, 1, 1)] if suite == "hidden" else [])
    cases = [Case({"dout": rng.normal(size=(n, m)), "x": rng.normal(size=(n, d)), "w": rng.normal(size=(d, m))})
             for n, d, m in sizes]
    ref = backprop.dense_backward
    mistakes = [
        Mistake("dx uses w instead of its transpose: dx = dout @ w.T",
                lambda case, got: got.shape != case.args["x"].shape, "dx"),
        Mistake("dw is transposed: dw = x.T @ dout has w's shape (D, M)",
                _same_as(lambda dout, x, w: (x.T @ dout).T), "dw"),
        Mistake("dw has the wrong shape: it must be w's shape (D, M), x.T @ dout",
                lambda case, got: got.shape != case.args["w"].shape, "dw"),
        Mistake("dw is averaged over the batch: sum, x.T @ dout", _same_as(
            lambda dout, x, w: x.T @ dout / len(x)), "dw"),
        Mistake("db is not summed over the batch: db = dout.sum(axis=0)",
                lambda case, got: got.shape == case.args["dout"].shape and len(case.args["dout"]) > 1, "db"),
        Mistake("db is summed over the wrong axis: sum over the batch (axis 0), one value per unit",
                lambda case, got: got.shape == (len(case.args["dout"]),) != (case.args["dout"].shape[1],), "db"),
        Mistake("db is averaged over the batch: db = dout.sum(axis=0)", _same_as(
            lambda dout, x, w: dout.mean(axis=0)), "db"),
        Mistake("db is not summed over the batch: it holds only the last example's gradient",
                _same_as(lambda dout, x, w: dout[-1]), "db"),
    ]
    _run_cases("dense_backward", dense_backward, cases, ref, mistakes, outputs=("dx", "dw", "db"),
               allow_reference=allow_reference)


@functools.lru_cache(maxsize=1)
def _held_out_digits():
    """The 1,000 held-out digits of ``load_mnist_subset``, read once and made read-only."""
    from .. import data

    _, (x_test, y_test) = data.load_mnist_subset()
    x_test.flags.writeable = False
    y_test.flags.writeable = False
    return x_test, y_test


def check_model_accuracy(model, minimum, library="cnnlib"):
    """Check a trained model's accuracy on the 1,000 held-out digits of ``load_mnist_subset``.

    The accuracy is computed here, from the model's predictions on the test
    split, and the model must contain a convolution layer.

    Arguments:
        model: a ``cnnlib.Sequential`` (library='cnnlib') or a ``tf.keras.Model`` (library='keras').
        minimum: the accuracy to reach, in [0, 1].

    Returns None (nbgrader would read a number left as a test cell's output as
    partial credit); the accuracy is printed.

    Raises:
        CheckFailed: the model is of the wrong kind, has no convolution, or falls short.
    """
    __tracebackhide__ = True
    from ..layers import Conv2D
    from ..model import Sequential

    x_test, y_test = _held_out_digits()
    if library == "cnnlib":
        if not isinstance(model, Sequential):
            raise CheckFailed(f"expected a cnnlib Sequential model, got {type(model).__name__}")
        if not any(isinstance(layer, Conv2D) for layer in model.layers):
            raise CheckFailed("the model has no Conv2D layer: this assignment asks for a CNN")
        probs = model.predict(x_test)
    elif library == "keras":
        if not hasattr(model, "layers") or not hasattr(model, "predict"):
            raise CheckFailed(f"expected a Keras model, got {type(model).__name__}")
        if not any(type(layer).__name__ in ("Conv2D", "SeparableConv2D", "DepthwiseConv2D")
                   for layer in model.layers):
            raise CheckFailed("the Keras model has no Conv2D layer: this assignment asks for a CNN")
        probs = np.asarray(model.predict(x_test, verbose=0))
    else:
        raise ValueError(f"library must be 'cnnlib' or 'keras', got {library!r}")
    if probs.shape != (len(x_test), 10):
        raise CheckFailed(f"the model's predictions have shape {probs.shape}, expected ({len(x_test)}, 10): "
                          f"one score per digit class")
    accuracy = float(np.mean(probs.argmax(axis=1) == y_test))
    if not accuracy >= minimum:
        raise CheckFailed(f"held-out accuracy {accuracy:.1%} is below the required {minimum:.0%}: "
                          f"train longer, or check the learning rate and the architecture")
    print(f"held-out accuracy {accuracy:.1%} (required {minimum:.0%})")

"""Checks for Assignment 3: softmax_cross_entropy, dense_backward, and CNNs the grader trains itself.

A model's score must not depend on what the student's code does at grading time, nor
on the 1,000 held-out digits, which ship inside a package any code can read. So
:func:`check_trained_model` takes the student's *recipe* (a function that builds the
untrained network, and the training settings as plain data), and the grader:

1. builds the network by calling the student's function (in the sandboxed kernel;
   the model comes back as architecture, the weights are thrown away);
2. initialises it afresh and trains it itself, with the recipe, on the 4,000
   training digits only (:func:`train`), within a fixed budget (:data:`BUDGET`);
3. measures it on the 1,000 held-out digits and gives points by tier (:data:`TIERS`),
   thresholds read off a study over seeds (``bench/bench_a3_recipes.py``).

In a student's notebook the same check trains on 3,000 training digits and reports
the accuracy on the 1,000 validation digits, so students tune without ever touching
the test digits.
"""

import functools
import math

import numpy as np

from .. import backprop, ops
from . import wire
from ..gradcheck import numerical_gradient
from .core import (DECIDED_BY_GRADER, Case, CheckFailed, Mistake, Remote, award, call_student,
                   grading_run, report_gradcheck, run_cases, same_as, suite_rng)


def check_softmax_cross_entropy(softmax_cross_entropy, suite="public", allow_reference=False):
    """Check ``softmax_cross_entropy(logits, labels)`` -> ``(mean loss, dlogits)``.

    Cases include a batch of one, many classes, and logits of several hundred
    (where exp overflows unless the row maximum is subtracted first).

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    __tracebackhide__ = True
    rng = suite_rng(14, suite)
    sizes = [(4, 3), (1, 10), (6, 5)] + ([(8, 2), (3, 7)] if suite == "hidden" else [])
    cases = [Case({"logits": rng.normal(scale=2, size=s), "labels": rng.integers(0, s[1], size=s[0])})
             for s in sizes]
    big = rng.normal(scale=300, size=(4, 6))
    big[0, 0] = 800.0                   # exp(800) overflows
    big[1, 5], big[1, 0] = -450.0, 450.0  # the true class 900 below the top: its p underflows to exactly 0
    cases.append(Case({"logits": big, "labels": np.array([0, 5, 2, 3])}, "large logits"))
    ref = backprop.softmax_cross_entropy

    def probs(logits):
        return ops.softmax(logits, axis=1)

    def true_class_probs(logits, labels):
        return probs(logits)[np.arange(len(logits)), labels]

    def epsilon_in_log(case, got):
        p = true_class_probs(case.args["logits"], case.args["labels"])
        guards = [lambda eps: p + eps, lambda eps: np.maximum(p, eps), lambda eps: np.clip(p, eps, 1 - eps)]
        return got.ndim == 0 and any(np.isclose(-np.mean(np.log(guard(10.0 ** -k))), got, rtol=1e-6)
                                     for k in range(3, 21) for guard in guards)

    def log_of_zero(case, got):
        probs = true_class_probs(case.args["logits"], case.args["labels"])
        return got.ndim == 0 and got == np.inf and np.any(probs == 0)

    mistakes = [
        Mistake("the loss is summed over the batch: return the mean",
                same_as(lambda logits, labels: ref(logits, labels)[0] * len(logits)), "loss"),
        Mistake("the loss is not a single number: average -log p[label] over the batch",
                lambda case, got: got.ndim > 0, "loss"),
        Mistake("the loss takes the log of p plus a small epsilon (or of p clipped away from 0): with large logits "
                "a true class's p is far below any epsilon (about e^-900 in one row), so the epsilon replaces it and "
                "the loss comes out far too small. Take log p from the shifted logits, log p_y = (z_y - m) - "
                "log(sum_j exp(z_j - m)): it is exact and needs no epsilon", epsilon_in_log, "loss"),
        Mistake("log(0): with large logits the true class's probability underflows to exactly 0, and its log is "
                "-inf. Take log p from the shifted logits, log p_y = (z_y - m) - log(sum_j exp(z_j - m)), instead of "
                "the log of the softmax", log_of_zero, "loss"),
        Mistake("exp overflowed (nan or inf): subtract each row's maximum from the logits before exp",
                lambda case, got: not np.all(np.isfinite(got)), "loss"),
        Mistake("the loss uses log(p) without the minus sign", same_as(
            lambda logits, labels: -ref(logits, labels)[0]), "loss"),
        Mistake("dlogits is not divided by N: the loss is a mean, so its gradient carries 1/N",
                same_as(lambda logits, labels: ref(logits, labels)[1] * len(logits)), "dlogits"),
        Mistake("dlogits is the softmax alone: subtract 1 at each row's true class",
                same_as(lambda logits, labels: probs(logits) / len(logits)), "dlogits"),
        Mistake("dlogits is the softmax alone and not divided by N: (softmax - one_hot) / N",
                same_as(lambda logits, labels: probs(logits)), "dlogits"),
        Mistake("dlogits has the wrong sign: it is (softmax - one_hot) / N",
                same_as(lambda logits, labels: -ref(logits, labels)[1]), "dlogits"),
        Mistake("exp overflowed (nan or inf): subtract each row's maximum from the logits before exp",
                lambda case, got: not np.all(np.isfinite(got)), "dlogits"),
        Mistake("dlogits must have the logits' shape (N, K)",
                lambda case, got: got.shape != case.args["logits"].shape, "dlogits"),
    ]
    run_cases("softmax_cross_entropy", softmax_cross_entropy, cases, ref, mistakes,
               outputs=("loss", "dlogits"), allow_reference=allow_reference)
    logits, labels = rng.normal(size=(5, 4)), rng.integers(0, 4, size=5)
    got = call_student("softmax_cross_entropy", softmax_cross_entropy,
                        Case({"logits": logits, "labels": labels}, "gradient check"), allow_reference)
    numeric = numerical_gradient(lambda v: ops.cross_entropy(v, labels, from_logits=True), logits.copy())
    report_gradcheck("softmax_cross_entropy", "dlogits", got[1] if isinstance(got, (tuple, list)) else got,
                      numeric)


def check_dense_backward(dense_backward, suite="public", allow_reference=False):
    """Check ``dense_backward(dout, x, w)`` -> ``(dx, dw, db)`` for ``x @ w + b``.

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    __tracebackhide__ = True
    rng = suite_rng(15, suite)
    # (N, D, M): a batch of one, and one input and one output unit, in both suites
    sizes = [(4, 3, 2), (1, 5, 3), (6, 2, 7), (5, 1, 1)]
    if suite == "hidden":
        sizes += [(3, 8, 4), (7, 1, 1), (1, 4, 2)]
    cases = [Case({"dout": rng.normal(size=(n, m)), "x": rng.normal(size=(n, d)), "w": rng.normal(size=(d, m))})
             for n, d, m in sizes]
    ref = backprop.dense_backward
    mistakes = [
        Mistake("dx uses w instead of its transpose: dx = dout @ w.T",
                lambda case, got: got.shape != case.args["x"].shape, "dx"),
        Mistake("dw is transposed: dw = x.T @ dout has w's shape (D, M)",
                same_as(lambda dout, x, w: (x.T @ dout).T), "dw"),
        Mistake("dw has the wrong shape: it must be w's shape (D, M), x.T @ dout",
                lambda case, got: got.shape != case.args["w"].shape, "dw"),
        Mistake("dw is averaged over the batch: sum, x.T @ dout", same_as(
            lambda dout, x, w: x.T @ dout / len(x)), "dw"),
        Mistake("db is not summed over the batch: db = dout.sum(axis=0)",
                lambda case, got: got.shape == case.args["dout"].shape and len(case.args["dout"]) > 1, "db"),
        Mistake("db is summed over the wrong axis: sum over the batch (axis 0), one value per unit",
                lambda case, got: got.shape == (len(case.args["dout"]),) != (case.args["dout"].shape[1],), "db"),
        Mistake("db is averaged over the batch: db = dout.sum(axis=0)", same_as(
            lambda dout, x, w: dout.mean(axis=0)), "db"),
        Mistake("db is not summed over the batch: it holds only the last example's gradient",
                same_as(lambda dout, x, w: dout[-1]), "db"),
    ]
    run_cases("dense_backward", dense_backward, cases, ref, mistakes, outputs=("dx", "dw", "db"),
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
        if not any(type(layer).__name__ in CONVOLUTIONS for layer in _keras_layers(model)):   # sub-models too
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


# ---------------------------------------------------------------------------
# CNNs the grader trains itself
# ---------------------------------------------------------------------------

# The recipes the notebook teaches, and what the seed study measures.
CNNLIB_RECIPE = {"epochs": 3, "batch_size": 32, "learning_rate": 0.002}
KERAS_RECIPE = {"epochs": 4, "batch_size": 32, "learning_rate": 0.002, "schedule": "cosine"}
# The grader's budget: most epochs, and most multiply-adds per image (the course CNNs
# need about 0.6 M and 2.6 M), so that grading one submission stays quick.
BUDGET = {"cnnlib": {"epochs": 3, "multiply_adds": 2_000_000},
          "keras": {"epochs": 4, "multiply_adds": 6_000_000}}
# (held-out accuracy, share of the points), highest first; below the last tier: 0.
TIERS = {"cnnlib": ((0.935, 1.0), (0.92, 0.5)),
         "keras": ((0.95, 1.0), (0.94, 0.5))}
GRADER_SEED = 0
CONVOLUTIONS = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D")


def check_recipe(recipe, library):
    """The recipe as a clean dict, or :class:`CheckFailed` naming the setting that is wrong.

    Settings: ``epochs`` (1 to the budget), ``batch_size`` (8 to 512),
    ``learning_rate`` (Adam's, above 0 and at most 0.1) and, for Keras,
    ``schedule``: ``"constant"`` or ``"cosine"`` (decay to 0 over the training).
    """
    __tracebackhide__ = True
    allowed = {"epochs", "batch_size", "learning_rate"} | ({"schedule"} if library == "keras" else set())
    if not isinstance(recipe, dict):
        example = CNNLIB_RECIPE if library == "cnnlib" else KERAS_RECIPE
        raise CheckFailed(f"the recipe must be a dict such as {example}, got {type(recipe).__name__}")
    unknown = sorted(set(map(str, recipe)) - allowed)
    if unknown:
        raise CheckFailed(f"the recipe has settings the grader does not use: {unknown}; "
                          f"it reads only {sorted(allowed)}")
    clean = {"schedule": "constant"} if library == "keras" else {}
    limit = BUDGET[library]["epochs"]
    for key, low, high, kind in (("epochs", 1, limit, int), ("batch_size", 8, 512, int),
                                 ("learning_rate", 0.0, 0.1, float)):
        if key not in recipe:
            raise CheckFailed(f"the recipe needs {key!r}")
        value = recipe[key]
        ok = isinstance(value, (int, np.integer)) if kind is int else isinstance(value, (int, float, np.floating))
        if isinstance(value, bool) or not ok or not (low < value <= high if kind is float else low <= value <= high):
            bounds = f"above {low} and at most {high}" if kind is float else f"from {low} to {high}"
            raise CheckFailed(f"recipe[{key!r}] must be {'an int' if kind is int else 'a number'} {bounds}, "
                              f"got {value!r}" + (" (the grader's budget)" if key == "epochs" else ""))
        clean[key] = kind(value)
    if "schedule" in recipe:
        if recipe["schedule"] not in ("constant", "cosine"):
            raise CheckFailed(f"recipe['schedule'] must be 'constant' or 'cosine', got {recipe['schedule']!r}")
        clean["schedule"] = recipe["schedule"]
    return clean


def _keras_layers(model):
    """Every layer of a Keras model, sub-models opened up."""
    for layer in model.layers:
        if hasattr(layer, "layers"):
            yield from _keras_layers(layer)
        else:
            yield layer


def _multiply_adds(model, library):
    """Multiply-adds of one forward pass of one image through the convolution and dense layers."""
    total = 0
    if library == "cnnlib":
        from ..layers import Conv2D, Dense

        for layer in model.layers:
            if isinstance(layer, Conv2D):
                kh, kw, c_in, c_out = layer.params["kernel"].shape
                total += math.prod(layer.output_shape[:2]) * kh * kw * c_in * c_out
            elif isinstance(layer, Dense):
                total += layer.params["kernel"].size
        return total
    for layer in _keras_layers(model):
        weights = layer.get_weights()
        if not weights:
            continue
        kind = type(layer).__name__
        if kind in CONVOLUTIONS:
            total += math.prod(layer.output.shape[1:3]) * sum(w.size for w in weights if w.ndim == 4)
        elif kind == "Dense":
            total += weights[0].size
    return total


def _check_network(model, library):
    """A CNN for 28x28x1 digits with 10 outputs, within the budget; else :class:`CheckFailed`."""
    __tracebackhide__ = True
    if library == "cnnlib":
        from ..layers import Conv2D
        from ..model import Sequential

        if not isinstance(model, Sequential):
            raise CheckFailed(f"the function must return a cnnlib Sequential, got {type(model).__name__}")
        if not model.built:
            model.build((28, 28, 1))
        if model.input_shape != (28, 28, 1):
            raise CheckFailed(f"the model takes inputs of shape {model.input_shape}, expected (28, 28, 1)")
        has_conv = any(isinstance(layer, Conv2D) for layer in model.layers)
        out_shape = model.layers[-1].output_shape
    else:
        if not (hasattr(model, "layers") and hasattr(model, "predict")):
            raise CheckFailed(f"the function must return a Keras model, got {type(model).__name__}")
        if tuple(model.input_shape[1:]) != (28, 28, 1):
            raise CheckFailed(f"the model takes inputs of shape {tuple(model.input_shape[1:])}, expected (28, 28, 1)")
        has_conv = any(type(layer).__name__ in CONVOLUTIONS for layer in _keras_layers(model))
        out_shape = tuple(model.output_shape[1:])
    if not has_conv:
        raise CheckFailed(f"the {'Keras ' if library == 'keras' else ''}model has no Conv2D layer: "
                          f"this assignment asks for a CNN")
    if tuple(out_shape) != (10,):
        raise CheckFailed(f"the model's output has shape {tuple(out_shape)} per image, expected (10,): "
                          f"one score per digit class")
    cost, limit = _multiply_adds(model, library), BUDGET[library]["multiply_adds"]
    if cost > limit:
        raise CheckFailed(f"the model needs {cost:,} multiply-adds per image, more than the grader's budget of "
                          f"{limit:,}: use fewer filters, or pool earlier")


def _fresh(model, library, seed):
    """The same architecture with new initial weights: whatever weights came with it are thrown away."""
    if library == "cnnlib":
        model.seed = seed
        model.build(model.input_shape)
        return model
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    return tf.keras.models.clone_model(model)


def _ends_in_softmax(model):
    last = list(_keras_layers(model))[-1]
    return type(last).__name__ == "Softmax" or last.get_config().get("activation") == "softmax"


def train(model, recipe, library, x, y, seed=GRADER_SEED):
    """Initialise ``model`` afresh and train it on (x, y) with ``recipe``; return the trained model.

    cnnlib: ``Sequential.fit`` with Adam. Keras: ``compile`` with Adam (its learning
    rate constant or cosine-decayed to 0 over the training) and sparse categorical
    cross-entropy (from logits unless the model ends in a softmax), then ``fit``.
    """
    recipe = check_recipe(recipe, library)
    model = _fresh(model, library, seed)
    if library == "cnnlib":
        from ..optim import Adam

        model.fit(x, y, epochs=recipe["epochs"], batch_size=recipe["batch_size"],
                  optimizer=Adam(recipe["learning_rate"]), seed=seed, verbose=0)
        return model
    import tensorflow as tf

    steps = recipe["epochs"] * math.ceil(len(x) / recipe["batch_size"])
    rate = recipe["learning_rate"]
    if recipe["schedule"] == "cosine":
        rate = tf.keras.optimizers.schedules.CosineDecay(rate, decay_steps=steps)
    model.compile(optimizer=tf.keras.optimizers.Adam(rate),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=not _ends_in_softmax(model)))
    model.fit(x, y, epochs=recipe["epochs"], batch_size=recipe["batch_size"], shuffle=True, verbose=0)
    return model


def _accuracy(model, library, x, y):
    if library == "cnnlib":
        scores = model.predict(x)
    else:
        scores = np.asarray(model.predict(x, verbose=0))
    return float(np.mean(scores.argmax(axis=1) == y))


def train_and_measure(model, recipe, library, seed=GRADER_SEED):
    """What the grader does: train afresh on the 4,000 training digits, return held-out accuracy."""
    from .. import data

    (x_train, y_train), (x_test, y_test) = data.load_mnist_subset()
    trained = train(model, recipe, library, x_train, y_train, seed)
    return _accuracy(trained, library, x_test, y_test)


def train_and_validate(model, recipe, library, seed=GRADER_SEED):
    """What the notebook shows: train afresh on the 3,000 digits of the validation split, return validation accuracy."""
    from .. import data

    (x_train, y_train), (x_val, y_val), _ = data.load_mnist_subset(validation_size=1000)
    trained = train(model, recipe, library, x_train, y_train, seed)
    return _accuracy(trained, library, x_val, y_val)


def credit(accuracy, library):
    """Share of the points for a held-out ``accuracy``: the first tier it reaches, else 0."""
    for threshold, share in TIERS[library]:
        if accuracy >= threshold:
            return share
    return 0.0


def _tiers_text(library):
    return ", ".join(f"{share:.0%} of the points from {threshold:.0%}" for threshold, share in TIERS[library])


def _as_the_grader_receives(model):
    """The model as it reaches the grader: written as data and rebuilt (:mod:`cnnlib.grading.wire`).

    In a notebook this refuses what the grader would refuse (a Keras ``Lambda`` or custom layer, a layer
    that is not one of ``cnnlib.layers``), with the same reason.
    """
    __tracebackhide__ = True
    try:
        rebuilt = wire.loads(wire.dumps(model))
    except wire.WireError as err:
        raise CheckFailed(f"the grader receives your model as a description (layers, settings, weights) and "
                          f"rebuilds it, and this one cannot be rebuilt: {err}") from None
    if isinstance(rebuilt, wire.Opaque):
        return model          # not a model at all: _check_network says what was expected
    return rebuilt


def check_trained_model(build_model, recipe, library="cnnlib"):
    """Check a CNN recipe: ``build_model()`` (an untrained network) trained with ``recipe``.

    Arguments:
        build_model: the student's function of no arguments returning an untrained
            ``cnnlib.Sequential`` (library='cnnlib') or ``tf.keras`` model ('keras') for
            (28, 28, 1) digits with 10 outputs (logits, or probabilities from a softmax).
        recipe: ``{"epochs", "batch_size", "learning_rate"}`` and, for Keras, ``"schedule"``
            (see :func:`check_recipe`).

    In a notebook: trains on the 3,000 training digits of the validation split and
    prints the accuracy on its 1,000 validation digits. In the grader: trains on all
    4,000 training digits and gives points by the held-out accuracy's tier
    (:data:`TIERS`). Returns None.

    Raises:
        CheckFailed: the function fails, the network or the recipe breaks a rule (the
            message names it), or, in the grader, the accuracy is below every tier.
        PartialCredit: in the grader, a tier below the top one.
    """
    __tracebackhide__ = True
    if library not in TIERS:
        raise ValueError(f"library must be 'cnnlib' or 'keras', got {library!r}")
    recipe = check_recipe(recipe, library)
    model = call_student("build_model", build_model, Case({}, "no arguments"), allow_reference=True)
    if not isinstance(build_model, Remote):
        model = _as_the_grader_receives(model)
    _check_network(model, library)
    from .. import data

    if isinstance(build_model, Remote):             # the grader: train and measure here
        (x_train, y_train), (x_test, y_test) = data.load_mnist_subset()
        accuracy = _accuracy(train(model, recipe, library, x_train, y_train), library, x_test, y_test)
        share = credit(accuracy, library)
        text = (f"held-out accuracy {accuracy:.1%} after the grader trained your model with your recipe "
                f"on the 4,000 training digits: {share:.0%} of the points ({_tiers_text(library)})")
        award(share, text, "Look at your validation accuracy in the notebook: a deeper or wider network, more "
                           "epochs or another learning rate may help")
        return
    if grading_run():
        print(f"the network and the recipe are valid {DECIDED_BY_GRADER}")
        return
    accuracy = train_and_validate(model, recipe, library)
    print(f"validation accuracy {accuracy:.1%} (trained on 3,000 digits, measured on the 1,000 validation "
          f"digits). The grader trains the same network with the same recipe on all 4,000 training digits and "
          f"measures the 1,000 test digits: {_tiers_text(library)}.")

"""Checks for Assignment 6: a small CNN assembled from the student's own layers, and trained.

The student chains the layer functions they wrote in Assignments 1-3 (``conv2d``,
``relu``, ``pool2d``, ``dense``, ``softmax_cross_entropy`` and the backward passes)
into one fixed network, :data:`NETWORK`, on digits shrunk to 14x14 so that loop-based
layers train in seconds:

    conv 3x3, 4 filters, no padding -> ReLU -> max pool 2x2 -> flatten -> dense 10

The student writes three functions of plain data, checked here against the same
network built from cnnlib's own ops:

- ``forward(params, x)`` -> ``(scores, cache)``;
- ``backward(dscores, cache)`` -> ``grads`` (a dict like ``params``), also checked
  against central differences of the whole network's loss;
- ``train(params, x, y, epochs, batch_size, learning_rate, seed)`` -> ``(params, losses)``:
  plain SGD on mini-batches in an order the docstring fixes, so that the grader can
  retrace it step for step.

Then two recipes: one must overfit 50 training digits to 100% (the sanity check of
every new network), the other trains on 1,000 digits and is scored on the 1,000 test
digits. In the grader both trainings run the student's ``train`` in their kernel; the
accuracy is measured here with cnnlib's forward pass, and for the scored one the grader
also retraces the specified training with cnnlib's layers and counts the lower of the
two accuracies, so that no training on other digits can raise a score.
"""

import functools
import itertools
import math

import numpy as np

from .. import backprop, ops
from .core import (DECIDED_BY_GRADER, Case, CheckFailed, MistakeFamily, Remote, as_array, award,
                   call_student, describe_difference, grading_run, measure_difference, suite_rng)

# The network every student builds: (name, shape) of each parameter, in order.
IMAGE_SHAPE = (14, 14, 1)
FILTERS = 4
FEATURES = 6 * 6 * FILTERS           # 14 -> conv 3x3 -> 12 -> pool 2 -> 6
CLASSES = 10
PARAMETERS = (("w1", (3, 3, 1, FILTERS)), ("b1", (FILTERS,)), ("w2", (FEATURES, CLASSES)), ("b2", (CLASSES,)))
NETWORK = "conv 3x3, 4 filters, no padding -> ReLU -> max pool 2x2 -> flatten -> dense 10"

# Recipes: settings, limits, and what the grader gives for the scored training.
OVERFIT_EXAMPLES = 50
TRAIN_EXAMPLES = 1000
# Budgets: at most so many epochs, batches of 5 to so many examples (smaller batches mean more
# steps, and loop-based layers pay per step); the learning rate above 0 and at most 10.
BUDGET = {"overfit": {"epochs": 20, "batch_size": OVERFIT_EXAMPLES},
          "accuracy": {"epochs": 2, "batch_size": 100}}
MIN_BATCH = 5
# (held-out accuracy, share of the points), highest first; below the last tier: 0. Read off
# bench/bench_a6_network.py: the taught recipe reaches 86.7% (validation 88.2%).
TIERS = ((0.83, 1.0), (0.78, 0.5))
GRADER_SEED = 0
# The network's gradient check: entries compared per parameter, and the tolerance.
GRADCHECK_ENTRIES = 40
GRADCHECK_EPS = 1e-6
NETWORK_GRADCHECK_TOL = 1e-6


# ---------------------------------------------------------------------------
# Data and starting weights (the notebook uses the same functions)
# ---------------------------------------------------------------------------

def shrink(x):
    """MNIST digits (N, 28, 28, 1) averaged over 2x2 blocks: (N, 14, 14, 1), float64."""
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(len(x), 14, 2, 14, 2, 1).mean(axis=(2, 4))


@functools.lru_cache(maxsize=1)
def _splits():
    from .. import data

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = data.load_mnist_subset(validation_size=1000)
    return ((shrink(x_train), y_train), (shrink(x_val), y_val), (shrink(x_test), y_test))


def load_small_digits():
    """The MNIST subset's 3,000 training and 1,000 validation digits, 14x14, float64 in [0, 1].

    The split is ``cnnlib.data.load_mnist_subset(validation_size=1000)``'s; the 1,000 test
    digits are the grader's and are not returned.

    Returns:
        ``((x_train, y_train), (x_val, y_val))``: x of shape (N, 14, 14, 1), y of shape (N,) (ints 0-9).
    """
    (x_train, y_train), (x_val, y_val), _ = _splits()
    return (x_train.copy(), y_train.copy()), (x_val.copy(), y_val.copy())


def init_params(seed=0):
    """Starting weights of the network: a dict ``{"w1", "b1", "w2", "b2"}`` of float64 arrays.

    ``w1`` (3, 3, 1, 4) is He-normal (standard deviation sqrt(2 / 9): it feeds a ReLU),
    ``w2`` (144, 10) normal with standard deviation sqrt(1 / 144) (its outputs are the
    scores), both drawn from ``np.random.default_rng(seed)``; the biases start at 0.
    """
    rng = np.random.default_rng(seed)
    return {"w1": rng.normal(size=(3, 3, 1, FILTERS)) * math.sqrt(2 / 9), "b1": np.zeros(FILTERS),
            "w2": rng.normal(size=(FEATURES, CLASSES)) * math.sqrt(1 / FEATURES), "b2": np.zeros(CLASSES)}


# ---------------------------------------------------------------------------
# The reference network, from cnnlib's ops, with the variants that name mistakes
# ---------------------------------------------------------------------------

def _flatten(q, order):
    """Flatten (N, H, W, C) in the right order ("NHWC": row-major) or a wrong one."""
    if order == "channels first":
        return q.transpose(0, 3, 1, 2).reshape(len(q), -1)
    if order == "column-major":
        return q.reshape(len(q), -1, order="F")
    return ops.flatten(q)


def _unflatten(df, shape, order):
    """The inverse of :func:`_flatten` for ``order``: (N, D) back to (N, H, W, C)."""
    n, h, w, c = shape
    if order == "channels first":
        return df.reshape(n, c, h, w).transpose(0, 2, 3, 1)
    if order == "column-major":
        return df.reshape(shape, order="F")
    return df.reshape(shape)


def _forward(params, x, relu=True, pool="max", flatten="NHWC", bias1=True, bias2=True, softmax=False):
    """The network's scores and every intermediate array; the keywords build wrong variants."""
    a = ops.conv2d(x, params["w1"], params["b1"] if bias1 else None)
    h = ops.relu(a) if relu else a
    q = ops.pool2d(h, 2, mode=pool)
    f = _flatten(q, flatten)
    scores = ops.dense(f, params["w2"], params["b2"] if bias2 else None)
    if softmax:
        scores = ops.softmax(scores, axis=1)
    return scores, {"x": x, "a": a, "h": h, "q": q, "f": f}


def _backward(dscores, params, layers, relu=True, pool="max", unflatten="NHWC"):
    """Gradients of the network from :func:`_forward`'s ``layers``; the keywords build wrong variants."""
    df, dw2, db2 = backprop.dense_backward(dscores, layers["f"], params["w2"])
    dq = _unflatten(df, layers["q"].shape, unflatten)
    dh = backprop.pool2d_backward(dq, layers["h"], 2, mode=pool)
    da = backprop.relu_backward(dh, layers["a"]) if relu else dh
    _, dw1, db1 = backprop.conv2d_backward(da, layers["x"], params["w1"])
    return {"w1": dw1, "b1": db1, "w2": dw2, "b2": db2}


def scores(params, x):
    """The network's class scores (N, 10) for images x (N, 14, 14, 1), computed with cnnlib's ops."""
    return _forward(params, np.asarray(x, dtype=np.float64))[0]


def accuracy(params, x, y):
    """Share of the images x whose highest score (cnnlib's forward pass) is their label y."""
    return float(np.mean(scores(params, x).argmax(axis=1) == np.asarray(y)))


def loss_and_grads(params, x, y):
    """Mean softmax cross-entropy of the network on (x, y), and its gradient (a dict like ``params``)."""
    out, layers = _forward(params, x)
    loss, dscores = backprop.softmax_cross_entropy(out, y)
    return float(loss), _backward(dscores, params, layers)


def reference_train(params, x, y, epochs, batch_size, learning_rate, seed, mistake=None):
    """The training every student's ``train`` must reproduce, with cnnlib's layers.

    ``rng = np.random.default_rng(seed)`` is made once; each epoch takes the examples in
    the order ``rng.permutation(len(x))``, in batches of ``batch_size`` (the last one
    smaller when they do not divide); each step computes the batch's mean loss and its
    gradients and moves every parameter by ``-learning_rate * gradient``.

    ``mistake`` (for the diagnoses) trains one known wrong way instead: "accumulated"
    (gradients summed over steps, never reset), "no shuffle", "same order every epoch",
    "last batch dropped", "ascent", "learning rate ignored", "whole set each step",
    "losses per epoch".

    Returns:
        ``(params, losses)``: the new weights (new arrays; the given ones are unchanged) and
        the list of each step's loss, computed before that step's update.
    """
    params = {name: np.array(value, dtype=np.float64) for name, value in params.items()}
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y)
    rng = np.random.default_rng(seed)
    total = {name: np.zeros_like(value) for name, value in params.items()}
    losses = []
    for _ in range(epochs):
        if mistake == "same order every epoch":
            rng = np.random.default_rng(seed)
        order = np.arange(len(x)) if mistake == "no shuffle" else rng.permutation(len(x))
        epoch_losses = []
        for start in range(0, len(x), batch_size):
            batch = order[start:start + batch_size]
            if mistake == "last batch dropped" and len(batch) < batch_size:
                break
            if mistake == "whole set each step":
                batch = np.arange(len(x))
            loss, grads = loss_and_grads(params, x[batch], y[batch])
            epoch_losses.append(loss)
            if mistake == "accumulated":
                for name in total:
                    total[name] += grads[name]
                grads = total
            rate = {"ascent": -learning_rate, "learning rate ignored": 1.0}.get(mistake, learning_rate)
            params = {name: params[name] - rate * grads[name] for name in params}
        losses += [float(np.mean(epoch_losses))] if mistake == "losses per epoch" else epoch_losses
    return params, losses


TRAINING_MISTAKES = {
    "accumulated": "the gradients are added up over the steps and never reset: each step must move the weights "
                   "by its own batch's gradient only (compute grads afresh each step; do not keep a running sum)",
    "no shuffle": "the examples are taken in their stored order: each epoch takes them in the order "
                  "rng.permutation(len(x)), with rng = np.random.default_rng(seed) made once before the loop",
    "same order every epoch": "every epoch takes the examples in the same order: make the generator "
                              "np.random.default_rng(seed) once, before the loop over epochs, so that each "
                              "epoch draws a new permutation from it",
    "last batch dropped": "the last, smaller batch of each epoch is left out: when batch_size does not divide "
                          "len(x), the final batch holds the remaining examples and is trained on too",
    "ascent": "the weights move along the gradient, so the loss grows: subtract learning_rate * gradient",
    "learning rate ignored": "the learning rate is not applied: each parameter moves by -learning_rate * gradient",
    "whole set each step": "each step uses every example instead of its batch: the step's gradient comes from "
                           "x[batch], y[batch] only",
    "losses per epoch": "losses must hold one number per step (each batch's loss before its update), "
                        "not one per epoch",
}


# ---------------------------------------------------------------------------
# Reading what the student's functions return
# ---------------------------------------------------------------------------

def _plain(value, depth=0):
    """None when ``value`` is plain data (arrays, numbers, strings, None, tuples/lists/dicts of them), else
    the type that is not."""
    if depth > 20:
        return "nesting deeper than 20"
    if value is None or isinstance(value, (bool, int, float, str, np.number, np.bool_)):
        return None
    if isinstance(value, np.ndarray):
        return None if value.dtype.kind in "biuf" else f"an array of dtype {value.dtype}"
    if isinstance(value, (tuple, list)):
        return next((why for why in (_plain(v, depth + 1) for v in value) if why), None)
    if isinstance(value, dict):
        if not all(isinstance(k, (str, int)) for k in value):
            return "a dict whose keys are not all strings or ints"
        return next((why for why in (_plain(v, depth + 1) for v in value.values()) if why), None)
    return f"a {type(value).__name__}"


def _read_params(got, what, fn_name):
    """``got`` as a dict {name: float64 array of the parameter's shape}, or CheckFailed saying what is wrong."""
    __tracebackhide__ = True
    names = [name for name, _ in PARAMETERS]
    if not isinstance(got, dict):
        raise CheckFailed(f"{fn_name} must return {what} as a dict with keys {names}, got {type(got).__name__}")
    missing = [name for name in names if name not in got]
    if missing:
        raise CheckFailed(f"{what} from {fn_name} has no {missing}: it must have one entry per parameter, "
                          f"keys {names}, got keys {sorted(map(str, got))}")
    out = {}
    for name, shape in PARAMETERS:
        arr, why = as_array(got[name], f"{what}[{name!r}]")
        if why:
            raise CheckFailed(why)
        if arr.shape != shape:
            raise CheckFailed(f"{what}[{name!r}] has shape {arr.shape}: each gradient and each parameter has "
                              f"its parameter's shape, {shape}")
        out[name] = arr
    return out


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------

def _random_params(rng):
    """Weights with every part non-zero (biases too), so that each mistake shows."""
    return {"w1": rng.normal(size=(3, 3, 1, FILTERS)) * 0.6, "b1": rng.normal(size=FILTERS) * 0.3,
            "w2": rng.normal(size=(FEATURES, CLASSES)) * 0.3, "b2": rng.normal(size=CLASSES)}


def _network_cases(suite, seed):
    """(params, x) cases: a batch of one and larger batches, random images of the network's shape."""
    rng = suite_rng(seed, suite)
    sizes = [1, 3] + ([2, 1, 5] if suite == "hidden" else [])
    return [Case({"params": _random_params(rng), "x": rng.random((n,) + IMAGE_SHAPE)},
                 "a batch of one image" if n == 1 else f"a batch of {n} images") for n in sizes]


def _call_forward(forward, case, allow_reference):
    """The student's ``(scores, cache)``: scores as an (N, 10) array; CheckFailed when the form is wrong."""
    __tracebackhide__ = True
    got = call_student("forward", forward, case, allow_reference)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        count = f"{len(got)} values" if isinstance(got, (tuple, list)) else type(got).__name__
        raise CheckFailed(f"forward must return a pair (scores, cache), got {count}\n  case: {case.describe()}")
    out, cache = got
    arr, why = as_array(out, "scores")
    if why:
        raise CheckFailed(f"{why}\n  case: {case.describe()}")
    not_plain = _plain(cache)
    if not_plain:
        raise CheckFailed(f"forward's cache holds {not_plain}: the cache must be plain data (arrays, numbers, and "
                          f"tuples, lists or dicts of them), because it travels to backward as data\n"
                          f"  case: {case.describe()}")
    return arr, cache


def _forward_family():
    components = {"relu": (True, False), "pool": ("max", "avg"), "flatten": ("NHWC", "channels first", "column-major"),
                  "bias1": (True, False), "bias2": (True, False), "softmax": (False, True)}

    def build(case):
        for values in itertools.product(*components.values()):
            choice = dict(zip(components, values))
            try:
                out, _ = _forward(case.args["params"], case.args["x"], **choice)
            except ValueError:
                continue
            yield choice, {None: out}

    return MistakeFamily(build, {name: values[0] for name, values in components.items()})


FORWARD_MISTAKES = [
    ("softmax", "forward returns probabilities: it must return the scores (logits) of the dense layer; "
                "softmax_cross_entropy applies the softmax itself"),
    ("flatten", "the flatten takes the values in another order: flatten the pooled (N, 6, 6, 4) array with "
                "q.reshape(N, -1), row-major, channels last (as cnnlib and Keras's Flatten do), so that w2's "
                "rows meet the features they were made for"),
    ("relu", "the ReLU after the convolution is missing"),
    ("pool", "the pooling averages: this network uses max pooling, pool2d(h, 2) with mode='max'"),
    ("bias1", "the convolution's bias b1 is missing"),
    ("bias2", "the dense layer's bias b2 is missing"),
]


def check_network_forward(forward, suite="public", allow_reference=False):
    """Check ``forward(params, x)`` -> ``(scores, cache)`` for the network :data:`NETWORK`.

    Cases: random weights (biases non-zero), x of shape (N, 14, 14, 1) with N = 1 and
    N > 1 (both forms in both suites). scores must be (N, 10), equal to cnnlib's forward
    pass to a relative 1e-7; cache may be any plain data.

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    __tracebackhide__ = True
    family = _forward_family()
    mistakes = [family.mistake(text, None, family.differs(component)) for component, text in FORWARD_MISTAKES]
    cases = _network_cases(suite, seed=70)
    for number, case in enumerate(cases, 1):
        got, _ = _call_forward(forward, case, allow_reference)
        expected, _ = _forward(case.args["params"], case.args["x"])
        diff = measure_difference(expected, got)
        if diff:
            _fail("forward", number, len(cases), case, [("scores", diff, got)], mistakes, family_output=None)
    print(f"forward: all {len(cases)} cases agree with the network built from cnnlib's layers.")


def _fail(name, number, count, case, problems, mistakes, family_output="grads"):
    """Raise CheckFailed for case ``number``: each (label, diff, got) problem, and the first mistake explaining it."""
    __tracebackhide__ = True
    lines = [f"{name} is wrong on case {number} of {count}:", f"  case: {case.describe()}"]
    diagnoses = []
    for label, diff, got in problems:
        lines.append(f"  {describe_difference(label, diff)}")
        output = None if family_output is None else label
        found = [m.description for m in mistakes if m.output == output and not diff["shape"] and m.explains(case, got)]
        diagnoses += found[:1]
    lines += [f"  diagnosis: {d}" for d in dict.fromkeys(diagnoses)] or [
        "  diagnosis: none of the usual mistakes explains this output; compare each layer's output (or "
        "gradient) with the one before it on a small example."]
    raise CheckFailed("\n".join(lines))


# ---------------------------------------------------------------------------
# backward
# ---------------------------------------------------------------------------

def _backward_family():
    components = {"unflatten": ("NHWC", "channels first", "column-major"), "pool": ("max", "avg", "sum"),
                  "relu": (True, False)}

    def build(case):
        _, layers = _forward(case.args["params"], case.args["x"])
        for values in itertools.product(*components.values()):
            choice = dict(zip(components, values))
            yield choice, _backward(case.args["dscores"], case.args["params"], layers, **choice)

    return MistakeFamily(build, {name: values[0] for name, values in components.items()})


BACKWARD_MISTAKES = [
    ("unflatten", "the flatten's backward puts the gradient back in another order than the forward flatten took "
                  "the values: reshape dflat to the pooled array's shape (N, 6, 6, 4), q.shape, the exact inverse of "
                  "q.reshape(N, -1)"),
    ("pool", "the gradient does not go back through max pooling: only the position that held each window's "
             "maximum gets it (pool2d_backward with mode='max', on the ReLU's output, the pool's input)"),
    ("relu", "the gradient is not masked by the ReLU: relu_backward(dh, a), with a the convolution's output "
             "(the ReLU's input)"),
]


def _gradient_problems(grads, expected):
    return [(name, diff, grads[name]) for name, _ in PARAMETERS
            if (diff := measure_difference(expected[name], grads[name])) is not None]


def check_network_backward(forward, backward, suite="public", allow_reference=False):
    """Check ``backward(dscores, cache)`` -> ``grads`` of the network, with the student's ``forward``'s cache.

    For each case: ``scores, cache = forward(params, x)`` (checked first), then
    ``backward(dscores, cache)`` with a random ``dscores``; every gradient is compared
    with cnnlib's backward pass. Then two more tests:

    - a cache kept in a global variable (or a layer object) instead of the one passed in:
      forward is called on two batches, then backward with the first batch's cache;
    - a whole-network gradient check: the gradients for the loss of a small batch
      against central differences of the loss at :data:`GRADCHECK_ENTRIES` entries of each
      parameter; the largest difference, over the parameter's largest gradient entry, must
      be at most :data:`NETWORK_GRADCHECK_TOL`.

    Raises:
        CheckFailed: at the first disagreement, with a diagnosis.
    """
    __tracebackhide__ = True
    family = _backward_family()
    mistakes = [family.mistake(text, name, family.differs(component))
                for component, text in BACKWARD_MISTAKES for name in ("w1", "b1")]
    rng = suite_rng(71, suite)
    cases = []
    for case in _network_cases(suite, seed=72):
        dscores = rng.normal(size=(len(case.args["x"]), CLASSES))
        cases.append(Case({**case.args, "dscores": dscores}, case.note))
    for number, case in enumerate(cases, 1):
        grads = _student_grads(forward, backward, case, allow_reference)
        _, layers = _forward(case.args["params"], case.args["x"])
        problems = _gradient_problems(grads, _backward(case.args["dscores"], case.args["params"], layers))
        if problems:
            _fail("backward", number, len(cases), case, problems, mistakes)
    print(f"backward: all {len(cases)} cases agree with the network built from cnnlib's layers.")
    _check_cache_is_used(forward, backward, rng, allow_reference)
    _gradient_check_network(forward, backward, rng, allow_reference)


def _student_grads(forward, backward, case, allow_reference):
    """``backward(dscores, cache)`` after the student's ``forward`` on the case, as checked arrays."""
    __tracebackhide__ = True
    forward_case = Case({"params": case.args["params"], "x": case.args["x"]}, case.note)
    out, cache = _call_forward(forward, forward_case, allow_reference)
    expected, _ = _forward(case.args["params"], case.args["x"])
    if measure_difference(expected, out) is not None:
        raise CheckFailed(f"forward's scores are wrong on this case, so backward cannot be checked: make the "
                          f"forward test pass first\n  case: {forward_case.describe()}")
    got = call_student("backward", backward, Case({"dscores": case.args["dscores"], "cache": cache}, case.note),
                        allow_reference, explain=_explain_backward_error)
    return _read_params(got, "grads", "backward")


def _explain_backward_error(kind, message, case):
    if "cannot reshape array of size" in message:
        return ("a reshape in backward has the wrong target: the flatten's backward reshapes dflat, (N, 144), to "
                "the shape of the array the flatten received, the pooled (N, 6, 6, 4), not to the convolution's "
                "output (N, 12, 12, 4)")
    if kind in ("ValueError", "IndexError") and ("broadcast" in message or "shape" in message):
        return ("two arrays of different shapes met in backward: each layer's backward takes the gradient of its "
                "own output and its own input from the cache (conv2d_backward: the image x; pool2d_backward: "
                "the ReLU's output; relu_backward: the convolution's output; dense_backward: the flattened features)")
    return None


def _check_cache_is_used(forward, backward, rng, allow_reference):
    """backward must use the cache it is given, not the arrays of the latest forward call."""
    __tracebackhide__ = True
    params = _random_params(rng)
    first, second = rng.random((3,) + IMAGE_SHAPE), rng.random((3,) + IMAGE_SHAPE)
    dscores = rng.normal(size=(3, CLASSES))
    _, cache = _call_forward(forward, Case({"params": params, "x": first}, "first batch"), allow_reference)
    _call_forward(forward, Case({"params": params, "x": second}, "second batch"), allow_reference)
    case = Case({"dscores": dscores, "cache": cache}, "the first batch's cache, after forward ran on a second batch")
    got = _read_params(call_student("backward", backward, case, allow_reference, explain=_explain_backward_error),
                       "grads", "backward")
    expected = _backward(dscores, params, _forward(params, first)[1])
    problems = _gradient_problems(got, expected)
    if not problems:
        print("backward uses the cache it is given (forward ran on another batch in between).")
        return
    stale = _backward(dscores, params, _forward(params, second)[1])
    lines = ["backward is wrong when forward has run on another batch since the cache was made:",
             f"  case: {case.describe()}"] + [f"  {describe_difference(n, d)}" for n, d, _ in problems]
    if not _gradient_problems(got, stale):
        lines.append("  diagnosis: backward used the arrays of the latest forward call, not the cache it was given: "
                     "a cache kept in a global variable (or a layer object) is overwritten by the next forward "
                     "pass. Return everything backward needs in the cache, and read it only from there")
    else:
        lines.append("  diagnosis: backward depends on something besides its arguments (a global variable?): "
                     "read everything from dscores and the cache")
    raise CheckFailed("\n".join(lines))


def _gradient_check_network(forward, backward, rng, allow_reference):
    """The whole network's gradients against central differences of its loss (cnnlib's forward pass)."""
    __tracebackhide__ = True
    params = init_params(seed=int(rng.integers(1000)))
    params = {name: value + rng.normal(size=value.shape) * 0.1 for name, value in params.items()}
    x, y = rng.random((2,) + IMAGE_SHAPE), rng.integers(0, CLASSES, size=2)
    out, _ = _forward(params, x)
    _, dscores = backprop.softmax_cross_entropy(out, y)
    grads = _student_grads(forward, backward, Case({"params": params, "x": x, "dscores": dscores}, "gradient check"),
                           allow_reference)
    def loss(values):
        return backprop.softmax_cross_entropy(_forward(values, x)[0], y)[0]

    errors = {}
    for name, shape in PARAMETERS:
        picks = rng.choice(math.prod(shape), size=min(GRADCHECK_ENTRIES, math.prod(shape)), replace=False)
        numeric = []
        for flat in picks:
            index = np.unravel_index(flat, shape)
            sides = []
            for step in (GRADCHECK_EPS, -GRADCHECK_EPS):
                nudged = {key: value.copy() for key, value in params.items()}
                nudged[name][index] += step
                sides.append(loss(nudged))
            numeric.append((sides[0] - sides[1]) / (2 * GRADCHECK_EPS))
        numeric = np.array(numeric)
        analytic = grads[name].reshape(-1)[picks]
        # relative to the parameter's largest gradient entry: tiny entries carry the central
        # difference's rounding error (about 1e-10), which a per-entry ratio would blow up
        errors[name] = float(np.abs(analytic - numeric).max() / max(np.abs(numeric).max(), 1e-8))
    worst = max(errors, key=errors.get)
    per = ", ".join(f"{name} {err:.1e}" for name, err in errors.items())
    if errors[worst] > NETWORK_GRADCHECK_TOL:
        raise CheckFailed(f"network gradient check: the gradient of the loss with respect to {worst} differs from "
                          f"central differences of the loss (largest difference / largest gradient entry, per "
                          f"parameter: {per}; tolerance {NETWORK_GRADCHECK_TOL:.0e})")
    print(f"network gradient check: {per} (largest difference / largest gradient entry, tolerance "
          f"{NETWORK_GRADCHECK_TOL:.0e})")


# ---------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------

def _train_cases(suite):
    """Small trainings on real digits: a batch size that divides and one that leaves a smaller last batch."""
    (x_train, y_train), _ = load_small_digits()
    rng = suite_rng(73, suite)
    table = [(12, 5, 2, 0.1), (6, 6, 3, 0.05)]
    if suite == "hidden":
        table += [(10, 4, 2, 0.2), (7, 3, 1, 0.1), (8, 8, 2, 0.3)]
    cases = []
    for n, batch_size, epochs, rate in table:
        pick = rng.choice(len(x_train), size=n, replace=False)
        cases.append(Case({"params": init_params(int(rng.integers(1000))), "x": x_train[pick], "y": y_train[pick],
                           "epochs": epochs, "batch_size": batch_size, "learning_rate": rate,
                           "seed": int(rng.integers(1000))},
                          f"{n} digits, batches of {batch_size}"
                          + (", the last one smaller" if n % batch_size else "")))
    return cases


def _read_training(got, case):
    """The student's ``(params, losses)``, checked for form."""
    __tracebackhide__ = True
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        count = f"{len(got)} values" if isinstance(got, (tuple, list)) else type(got).__name__
        raise CheckFailed(f"train must return a pair (params, losses), got {count}\n  case: {case.describe()}")
    params = _read_params(got[0], "params", "train")
    losses, why = as_array(got[1], "losses")
    if why:
        raise CheckFailed(f"{why}\n  case: {case.describe()}")
    return params, losses.reshape(-1)


def check_train(train, suite="public", allow_reference=False):
    """Check ``train(params, x, y, epochs, batch_size, learning_rate, seed)`` -> ``(params, losses)`` step by step.

    The training must be exactly :func:`reference_train` (with cnnlib's layers):
    the same batches in the same order, plain SGD, one loss per step. Cases: a dozen real
    digits, batch sizes that do and do not divide the number of examples, one to three
    epochs. Compared: the final weights and every step's loss, to a relative 1e-6.

    Raises:
        CheckFailed: on the first case that disagrees, naming the known mistake that explains it.
    """
    __tracebackhide__ = True
    cases = _train_cases(suite)
    for number, case in enumerate(cases, 1):
        got = call_student("train", train, case, allow_reference)
        params, losses = _read_training(got, case)
        want_params, want_losses = reference_train(**case.copy_args())
        problems = []
        if losses.shape != (len(want_losses),):
            batches = math.ceil(len(case.args['x']) / case.args['batch_size'])
            problems.append(f"losses has {losses.size} entries, expected {len(want_losses)}: one per step "
                            f"({case.args['epochs']} epochs of {batches} batches)")
        elif (diff := measure_difference(want_losses, losses, rtol=1e-6, atol=1e-9)) is not None:
            problems.append(describe_difference("losses", diff))
        problems += [describe_difference(f"params[{name!r}]", d) for name, d, _ in _gradient_problems_tol(
            params, want_params)]
        if not problems:
            continue
        lines = [f"train is wrong on case {number} of {len(cases)}:", f"  case: {case.describe()}",
                 *[f"  {p}" for p in problems]]
        lines.append(f"  diagnosis: {_training_diagnosis(case, params, losses)}")
        raise CheckFailed("\n".join(lines))
    print(f"train: all {len(cases)} trainings agree step by step with the specified training.")


def _gradient_problems_tol(got, expected):
    return [(name, diff, got[name]) for name, _ in PARAMETERS
            if (diff := measure_difference(expected[name], got[name], rtol=1e-6, atol=1e-9)) is not None]


def _training_diagnosis(case, params, losses):
    for mistake, description in TRAINING_MISTAKES.items():
        want_params, want_losses = reference_train(**case.copy_args(), mistake=mistake)
        same_losses = np.shape(losses) == (len(want_losses),) and measure_difference(
            want_losses, losses, rtol=1e-6, atol=1e-9) is None
        if same_losses and not _gradient_problems_tol(params, want_params):
            return description
    unchanged = not _gradient_problems_tol(params, case.args["params"])
    if unchanged:
        return "the returned weights are the starting weights: return the updated params"
    return ("none of the usual mistakes of a training loop explains this. train uses your forward and backward: "
            "if their tests fail, fix them first. Otherwise compare the first step by hand: the first batch is "
            "x[order[:batch_size]] with order = rng.permutation(len(x)), and the first loss is that batch's")


# ---------------------------------------------------------------------------
# The two recipes: overfit 50 digits, then train on 1,000 and measure
# ---------------------------------------------------------------------------

def check_recipe(recipe, kind):
    """The recipe as a clean dict, or CheckFailed naming the setting that breaks the budget :data:`BUDGET`.

    Settings: ``epochs`` (1 to the budget), ``batch_size`` (:data:`MIN_BATCH` to the budget), ``learning_rate``
    (above 0, at most 10).
    """
    __tracebackhide__ = True
    limits = BUDGET[kind]
    allowed = ("epochs", "batch_size", "learning_rate")
    if not isinstance(recipe, dict):
        raise CheckFailed(f"the recipe must be a dict with {list(allowed)}, got {type(recipe).__name__}")
    unknown = sorted(set(map(str, recipe)) - set(allowed))
    if unknown:
        raise CheckFailed(f"the recipe has settings this check does not use: {unknown}; it reads only {list(allowed)}")
    clean = {}
    for key, low, high in (("epochs", 1, limits["epochs"]), ("batch_size", MIN_BATCH, limits["batch_size"])):
        value = recipe.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
            raise CheckFailed(f"recipe[{key!r}] must be an int from {low} to {high} (the grader's budget), "
                              f"got {value!r}")
        clean[key] = int(value)
    rate = recipe.get("learning_rate")
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating)) or not 0 < rate <= 10:
        raise CheckFailed(f"recipe['learning_rate'] must be a number above 0 and at most 10, got {rate!r}")
    clean["learning_rate"] = float(rate)
    return clean


def _run_students_training(train, x, y, recipe, note):
    """The student's train on (x, y) from init_params(GRADER_SEED): the weights it returns and its losses.

    A short run on 10 of the digits first, watched for calls into cnnlib or TensorFlow (the network must be
    the student's own layers); then the real run without that watch, which would make loop-based layers
    several times slower.
    """
    __tracebackhide__ = True
    probe = Case({"params": init_params(GRADER_SEED), "x": x[:10], "y": y[:10], "epochs": 1,
                  "batch_size": MIN_BATCH, "learning_rate": recipe["learning_rate"], "seed": GRADER_SEED},
                 "a short run first, on 10 of the digits")
    call_student("train", train, probe, allow_reference=False)
    case = Case({"params": init_params(GRADER_SEED), "x": x, "y": y, **recipe, "seed": GRADER_SEED}, note)
    got = call_student("train", train, case, allow_reference=True)
    return _read_training(got, case)


def _loss_line(losses):
    if losses.size == 0:
        return "no losses"
    picks = sorted({0, losses.size // 4, losses.size // 2, 3 * losses.size // 4, losses.size - 1})
    return "loss at steps " + ", ".join(f"{i + 1}: {losses[i]:.3f}" for i in picks)


def check_overfit(train, recipe):
    """Check that ``train`` with ``recipe`` fits the first 50 training digits perfectly (100% of them right).

    The student's ``train`` runs from ``init_params(0)`` with seed 0; the accuracy on the
    50 digits is measured here with cnnlib's forward pass on the weights it returns.
    In the grader the same happens with the student's train running in their kernel.

    Raises:
        CheckFailed: the recipe breaks the budget, train fails, or some of the 50 digits stay wrong.
    """
    __tracebackhide__ = True
    recipe = check_recipe(recipe, "overfit")
    if grading_run() and not isinstance(train, Remote):
        print(f"the recipe is valid {DECIDED_BY_GRADER}")
        return
    (x_train, y_train), _ = load_small_digits()
    x, y = x_train[:OVERFIT_EXAMPLES], y_train[:OVERFIT_EXAMPLES]
    params, losses = _run_students_training(train, x, y, recipe, f"the first {OVERFIT_EXAMPLES} training digits")
    right = accuracy(params, x, y)
    if right < 1.0:
        raise CheckFailed(f"after training, {right:.0%} of the {OVERFIT_EXAMPLES} digits are right, not all of them "
                          f"({_loss_line(losses)}). A network this size can learn 50 digits by heart: if the loss "
                          f"falls slowly, raise the learning rate or the epochs; if it grows or jumps, lower the "
                          f"learning rate. If it does not fall at all, look at train and backward first.")
    print(f"overfit: all {OVERFIT_EXAMPLES} digits right after {recipe['epochs']} epochs ({_loss_line(losses)}).")


def credit(accuracy_value):
    """Share of the points for a held-out accuracy: the first tier it reaches, else 0."""
    for threshold, share in TIERS:
        if accuracy_value >= threshold:
            return share
    return 0.0


def _tiers_text():
    return ", ".join(f"{share:.0%} of the points from {threshold:.0%}" for threshold, share in TIERS)


def check_network_accuracy(train, recipe):
    """Check the network trained by ``train`` with ``recipe`` on the first 1,000 training digits.

    In a notebook: trains (the student's train, from ``init_params(0)``, seed 0) and prints
    the accuracy on the 1,000 validation digits. In the grader: the student's train runs
    in their kernel on the same 1,000 digits, and the grader also retraces the specified
    training (:func:`reference_train`, cnnlib's layers) with the recipe; the score comes from the
    lower of the two accuracies on the 1,000 test digits, by :data:`TIERS`. Returns None.

    Raises:
        CheckFailed: the recipe breaks the budget, train fails, or (grader) the accuracy is below every tier.
        PartialCredit: in the grader, a tier below the top one.
    """
    __tracebackhide__ = True
    recipe = check_recipe(recipe, "accuracy")
    if grading_run() and not isinstance(train, Remote):
        print(f"the recipe is valid {DECIDED_BY_GRADER}")
        return
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = _splits()
    x, y = x_train[:TRAIN_EXAMPLES], y_train[:TRAIN_EXAMPLES]
    params, losses = _run_students_training(train, x, y, recipe, f"the first {TRAIN_EXAMPLES:,} training digits")
    reference = reference_train(init_params(GRADER_SEED), x, y, **recipe, seed=GRADER_SEED)[0]
    if not isinstance(train, Remote):
        yours, specified = accuracy(params, x_val, y_val), accuracy(reference, x_val, y_val)
        print(f"validation accuracy {yours:.1%} after training on {TRAIN_EXAMPLES:,} digits ({_loss_line(losses)}).")
        if abs(yours - specified) > 0.005:
            print(f"The specified training of your recipe (cnnlib's layers) reaches {specified:.1%}: your train does "
                  f"something else (see the train test above), and the grader counts the lower of the two.")
        print(f"The grader trains the same way and measures the 1,000 test digits: {_tiers_text()}.")
        return
    yours, specified = accuracy(params, x_test, y_test), accuracy(reference, x_test, y_test)
    counted = min(yours, specified)
    share = credit(counted)
    text = (f"held-out accuracy {yours:.1%} with your train's weights, {specified:.1%} with the specified training "
            f"of your recipe (cnnlib's layers); the lower, {counted:.1%}, counts: {share:.0%} of the points "
            f"({_tiers_text()})")
    if abs(yours - specified) > 0.005:
        text += (". The two differ: your train does not do exactly the specified training (see the train test "
                 "above)")
    award(share, text, "Look at the validation accuracy in your notebook: another learning rate, batch size or a "
                       "second epoch may help")

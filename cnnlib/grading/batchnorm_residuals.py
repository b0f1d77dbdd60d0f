"""Checks for Assignment 5: batch normalization forward and backward, a residual block forward and backward.

The student's functions are pure: they take plain arrays and numbers and return
arrays (``batch_norm`` returns the new moving statistics instead of updating
them in place), so every call here passes data and reads back data.

Known mistakes are recognised as families. A variant of the reference is built
from a few components (which axes the statistics run over, the variance's
divisor, where epsilon goes, how gamma and beta enter, ...); every combination
is tried against the student's output, and the diagnosis names the first
component that is wrong in a combination that reproduces it. So normalizing over
(H, W), over N alone or over every axis all read "the statistics are taken over
the wrong axes", whatever else the code does.
"""

import itertools

import numpy as np

from .. import backprop, blocks, ops
from ..gradcheck import numerical_gradient
from .core import (Case, CheckFailed, Mistake, MistakeFamily, as_array, batch_sum_mistakes, call_student,
                   describe_difference, measure_difference, report_gradcheck, run_cases, suite_rng)

# (x shape, momentum, epsilon). Images and flat features, a batch of one, a single channel, odd sizes.
_BN_PUBLIC = [((4, 3, 5, 2), 0.9, 1e-3), ((6, 4), 0.8, 1e-5), ((1, 3, 3, 4), 0.9, 0.01), ((3, 2, 7, 1), 0.99, 1e-3)]
_BN_HIDDEN = [((2, 5, 4, 3), 0.99, 1e-3), ((5, 3), 0.5, 1e-3), ((2, 4, 4, 5), 0.95, 1e-4), ((7, 2), 0.9, 0.1)]


def _bn_arrays(rng, shape):
    """x with a different mean and spread in every channel; gamma, beta and moving statistics per channel."""
    c = shape[-1]
    x = rng.normal(size=shape) * rng.uniform(0.5, 3.0, c) + rng.uniform(-3.0, 3.0, c)
    return {"x": x, "gamma": rng.normal(1.0, 0.5, c), "beta": rng.normal(size=c),
            "moving_mean": rng.normal(size=c), "moving_var": rng.uniform(0.3, 2.0, c)}


def _bn_cases(suite, training, seed):
    rng = suite_rng(seed, suite)
    table = _BN_PUBLIC if suite == "public" else _BN_PUBLIC + _BN_HIDDEN
    return [Case({**_bn_arrays(rng, shape), "training": training, "momentum": momentum, "epsilon": epsilon},
                 "training mode" if training else "inference mode")
            for shape, momentum, epsilon in table]


# ---------------------------------------------------------------------------
# Families of variants
# ---------------------------------------------------------------------------

PER_CHANNEL = "per channel"


def _axis_sets(ndim):
    """``(label, axes)`` for every non-empty set of axes of an ndim-array: the correct one (every axis but
    the last), labelled PER_CHANNEL, first; the others labelled with their axes."""
    correct = tuple(range(ndim - 1))
    others = [s for r in range(1, ndim + 1) for s in itertools.combinations(range(ndim), r) if s != correct]
    return [(PER_CHANNEL, correct)] + [(s, s) for s in others]


def _axes_wrong(components):
    return components.get("axes", PER_CHANNEL) != PER_CHANNEL


def _moments(x, axes, ddof):
    m = np.prod([x.shape[a] for a in axes])
    mean = x.mean(axis=axes, keepdims=True)
    if ddof and m < 2:
        raise ValueError("an unbiased variance of one value")
    return mean, ((x - mean) ** 2).sum(axis=axes, keepdims=True) / (m - ddof)


_EPS = {"inside the square root": lambda var, eps: np.sqrt(var + eps),
        "outside the square root": lambda var, eps: np.sqrt(var) + eps,
        "missing": lambda var, eps: np.sqrt(var),
        "no square root": lambda var, eps: var + eps}
_AFFINE = {"gamma * xhat + beta": lambda xh, g, b: g * xh + b, "swapped": lambda xh, g, b: b * xh + g,
           "gamma missing": lambda xh, g, b: xh + b, "beta missing": lambda xh, g, b: g * xh,
           "gamma * (xhat + beta)": lambda xh, g, b: g * (xh + b), "neither": lambda xh, g, b: xh}
_RULES = {"momentum * old + (1 - momentum) * batch": lambda old, new, m: m * old + (1 - m) * new,
          "swapped": lambda old, new, m: (1 - m) * old + m * new,
          "not updated": lambda old, new, m: old,
          "replaced": lambda old, new, m: new,
          "momentum * old + batch": lambda old, new, m: m * old + new,
          "old + (1 - momentum) * batch": lambda old, new, m: old + (1 - m) * new}


def _forward_family():
    """Variants of batch_norm: the normalization's statistics, epsilon, gamma and beta; the moving averages."""
    def build(case):
        a = case.args
        x, g, b, eps, m = a["x"], a["gamma"], a["beta"], a["epsilon"], a["momentum"]
        moving = (a["moving_mean"], a["moving_var"])
        batch_mean, batch_var = _moments(x, tuple(range(x.ndim - 1)), 0)
        updated = (m * moving[0] + (1 - m) * batch_mean.ravel(), m * moving[1] + (1 - m) * batch_var.ravel())
        sources = []
        for label, axes in _axis_sets(x.ndim):
            for ddof in (0, 1):
                try:
                    sources.append(({"statistics": "batch", "axes": label, "ddof": ddof}, _moments(x, axes, ddof)))
                except ValueError:
                    continue
        sources.append(({"statistics": "moving", "axes": PER_CHANNEL, "ddof": 0}, moving))
        sources.append(({"statistics": "updated moving", "axes": PER_CHANNEL, "ddof": 0}, updated))
        for (source, (mean, var)), (eps_name, denominator), (affine, scale) in itertools.product(
                sources, _EPS.items(), _AFFINE.items()):
            with np.errstate(all="ignore"):
                out = scale((x - mean) / denominator(var, eps), g, b)
            yield {**source, "epsilon": eps_name, "affine": affine}, {"out": out}
        # The moving averages: a rule applied to some statistic of the batch.
        for label, axes in _axis_sets(x.ndim):
            for ddof in (0, 1):
                try:
                    mean, var = (v.ravel() for v in _moments(x, axes, ddof))
                except ValueError:
                    continue
                if mean.shape != moving[0].shape:
                    continue
                for rule, update in _RULES.items():
                    for kind, stat in (("variance", var), ("standard deviation", np.sqrt(var))):
                        components = {"rule": rule, "axes": label, "ddof": ddof, "kind": kind}
                        yield components, {"moving_mean": update(moving[0], mean, m),
                                           "moving_var": update(moving[1], stat, m)}

    return MistakeFamily(build, {"statistics": "batch", "axes": PER_CHANNEL, "ddof": 0,
                                 "epsilon": "inside the square root", "affine": "gamma * xhat + beta",
                                 "rule": "momentum * old + (1 - momentum) * batch", "kind": "variance"})


def _output_mistakes(family, training):
    """The Mistakes about batch_norm's normalized output, in the order they are tried."""
    stats = ("the statistics are taken over the wrong axes: batch norm uses one mean and one variance per "
             "channel, computed over every other axis (N, H and W for images: axis=(0, 1, 2); N for (N, C))")
    first = []
    if training:
        first.append(family.mistake(stats, "out", lambda c: c["statistics"] == "batch" and _axes_wrong(c)))
        first.append(family.mistake(
            "in training mode batch norm normalizes with the batch's own mean and variance, not the moving "
            "averages (those are for inference)", "out", family.differs("statistics")))
        first.append(family.mistake(
            "the variance is the unbiased one (divided by m - 1): batch norm divides by m, the number of values "
            "in each channel (np.var's default, ddof=0), as Keras does", "out", family.differs("ddof")))
    else:
        first.append(family.mistake(
            "in inference mode batch norm normalizes with moving_mean and moving_var, not the batch's statistics: "
            "a prediction must not depend on the other images in the batch", "out",
            family.differs("statistics", ("batch",))))
        first.append(family.mistake(
            "in inference mode the moving statistics are used as they are, not updated first", "out",
            family.differs("statistics", ("updated moving",))))
    return first + [
        family.mistake("epsilon is in the wrong place: it is added to the variance, inside the square root: "
                       "(x - mean) / sqrt(var + epsilon)", "out",
                       family.differs("epsilon", ("outside the square root", "missing"))),
        family.mistake("x - mean is divided by the variance: divide by the standard deviation, "
                       "sqrt(var + epsilon)", "out", family.differs("epsilon", ("no square root",))),
        family.mistake("gamma and beta are swapped: gamma scales the normalized x, beta shifts it "
                       "(gamma * xhat + beta)", "out", family.differs("affine", ("swapped",))),
        family.mistake("gamma and beta are not both applied: the output is gamma * xhat + beta", "out",
                       family.differs("affine", ("gamma missing", "beta missing", "neither"))),
        family.mistake("beta is added before gamma scales: the output is gamma * xhat + beta, "
                       "not gamma * (xhat + beta)", "out", family.differs("affine", ("gamma * (xhat + beta)",))),
    ]


def _moving_mistakes(family):
    """The Mistakes about the new moving statistics in training mode."""
    mistakes = []
    for output in ("moving_mean", "moving_var"):
        mistakes += [
            family.mistake("the moving statistics are not updated in training mode: return "
                           "momentum * moving + (1 - momentum) * batch statistic", output,
                           family.differs("rule", ("not updated",))),
            family.mistake("momentum is applied the wrong way round: Keras keeps `momentum` of the old value, "
                           "new = momentum * moving + (1 - momentum) * batch (PyTorch's momentum is 1 minus "
                           "Keras's)", output, family.differs("rule", ("swapped",))),
            family.mistake("the moving statistics are replaced by the batch's: they are running averages, "
                           "new = momentum * moving + (1 - momentum) * batch", output,
                           family.differs("rule", ("replaced",))),
            family.mistake("the moving average's weights do not add up to 1: new = momentum * moving + "
                           "(1 - momentum) * batch", output,
                           family.differs("rule", ("momentum * old + batch", "old + (1 - momentum) * batch"))),
            family.mistake("the moving statistics average statistics taken over the wrong axes: per channel, "
                           "over every axis but the last", output, _axes_wrong),
        ]
    mistakes += [
        family.mistake("the moving variance averages the unbiased batch variance (divided by m - 1): Keras "
                       "averages the same variance it normalizes with, divided by m", "moving_var",
                       family.differs("ddof")),
        family.mistake("the moving variance averages the standard deviation: average the variance",
                       "moving_var", family.differs("kind")),
    ]
    return mistakes


def _returns_three(name):
    def validate(got):
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            what = f"{len(got)} values" if isinstance(got, (tuple, list)) else type(got).__name__
            return (f"{name} must return a tuple (out, new_moving_mean, new_moving_var) (the moving "
                    f"statistics are returned, not changed in place), got {what}")
        return None
    return validate


def check_batch_norm_training(batch_norm, suite="public", allow_reference=False):
    """Check ``batch_norm(x, gamma, beta, moving_mean, moving_var, training=True, momentum, epsilon)``.

    Expects ``(out, new_moving_mean, new_moving_var)`` as :func:`cnnlib.ops.batch_norm`
    computes them: the batch's per-channel statistics over every axis but the
    last (biased variance), and Keras's moving averages. Cases: images
    (N, H, W, C) with odd, non-square sizes, flat features (N, C), a batch of
    one, a single channel.

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    __tracebackhide__ = True
    family = _forward_family()
    mistakes = _output_mistakes(family, training=True) + _moving_mistakes(family)
    run_cases("batch_norm", batch_norm, _bn_cases(suite, True, seed=50), ops.batch_norm, mistakes,
               outputs=("out", "moving_mean", "moving_var"), allow_reference=allow_reference,
               validate=_returns_three("batch_norm"))


def check_batch_norm_inference(batch_norm, suite="public", allow_reference=False):
    """Check ``batch_norm(..., training=False, ...)``: normalized with the moving statistics, which come back unchanged.

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    __tracebackhide__ = True
    family = _forward_family()
    changed = "the moving statistics are updated in inference mode: only training updates them; return " \
              "moving_mean and moving_var unchanged"
    mistakes = _output_mistakes(family, training=False) + [
        Mistake(changed, lambda case, got: got.shape == case.args["moving_mean"].shape, "moving_mean"),
        Mistake(changed, lambda case, got: got.shape == case.args["moving_var"].shape, "moving_var"),
    ]
    run_cases("batch_norm", batch_norm, _bn_cases(suite, False, seed=51), ops.batch_norm, mistakes,
               outputs=("out", "moving_mean", "moving_var"), allow_reference=allow_reference,
               validate=_returns_three("batch_norm"))


# ---------------------------------------------------------------------------
# Batch norm backward
# ---------------------------------------------------------------------------

def _backward_family():
    """Variants of batch_norm_backward: statistics, the mean and variance terms, scaling, gamma, the sums.

    The component "statistics" is "forward's" when the variant uses the statistics the forward pass
    normalized with (the batch's in training mode, the moving ones in inference) and "the other ones"
    otherwise; "terms" says which of the mean's and the variance's terms dx has.
    """
    def build(case):
        a = case.args
        x, dout, g, eps = a["x"], a["dout"], a["gamma"], a["epsilon"]
        m = x.size // x.shape[-1]
        sources = []
        for label, axes in _axis_sets(x.ndim):
            for ddof in (0, 1):
                try:
                    sources.append(({"statistics": "batch", "axes": label, "ddof": ddof}, axes,
                                    _moments(x, axes, ddof)))
                except ValueError:
                    continue
        sources.append(({"statistics": "moving", "axes": PER_CHANNEL, "ddof": 0}, tuple(range(x.ndim - 1)),
                        (a["moving_mean"], a["moving_var"])))
        forwards = "batch" if a["training"] else "moving"
        # The sums of the backward pass over the statistics' own axes, and, with the right statistics,
        # over any other axes too (a forward pass per channel and a backward pass over N alone).
        variants = [(source, axes, stats, axes) for source, axes, stats in sources]
        variants += [({**sources[0][0], "axes": label}, sources[0][1], sources[0][2], sum_axes)
                     for label, sum_axes in _axis_sets(x.ndim)[1:]]
        for (source, _, (mean, var), axes), (eps_name, denominator) in itertools.product(variants, _EPS.items()):
            source = {**source, "statistics": "forward's" if source["statistics"] == forwards else "the other ones"}
            with np.errstate(all="ignore"):
                inv = 1 / denominator(var, eps)
                xhat = (x - mean) * inv
                term_mean = dout.mean(axis=axes, keepdims=True)
                term_var = xhat * (dout * xhat).mean(axis=axes, keepdims=True)
                reductions = {"sum": lambda v: v.sum(axis=axes), "mean": lambda v: v.mean(axis=axes)}
                dgamma = {kind: reduce(dout * xhat) for kind, reduce in reductions.items()}
                dbeta = {kind: reduce(dout) for kind, reduce in reductions.items()}
                common = {**source, "epsilon": eps_name}
                yield {**common, "dgamma of": "x"}, {"dgamma": (dout * x).sum(axis=axes)}
                for reduce in reductions:
                    yield {**common, "reduce": reduce}, {"dgamma": dgamma[reduce], "dbeta": dbeta[reduce]}
                for gamma_used, terms, factor in itertools.product(
                        (True, False), ((1, 1), (1, 0), (0, 1), (0, 0)), ("1", "m", "1/m")):
                    scale = (g if gamma_used else 1) * inv * {"1": 1, "m": m, "1/m": 1 / m}[factor]
                    dx = scale * (dout - terms[0] * term_mean - terms[1] * term_var)
                    yield {**common, "gamma": gamma_used, "terms": terms, "factor": factor}, {"dx": dx}

    return MistakeFamily(build, {"statistics": "forward's", "axes": PER_CHANNEL, "ddof": 0,
                           "epsilon": "inside the square root", "gamma": True, "factor": "1", "reduce": "sum",
                           "dgamma of": "xhat"})


def _bn_backward_cases(suite, seed=52):
    rng = suite_rng(seed, suite)
    cases = []
    for case in _bn_cases(suite, True, seed) + _bn_cases(suite, False, seed + 1)[::2]:
        args = {k: v for k, v in case.args.items() if k not in ("beta", "momentum")}
        cases.append(Case({"dout": rng.normal(size=args["x"].shape), **args}, case.note))
    return cases


def check_batch_norm_backward(batch_norm_backward, suite="public", allow_reference=False):
    """Check ``batch_norm_backward(dout, x, gamma, moving_mean, moving_var, training, epsilon)``.

    It returns ``(dx, dgamma, dbeta)``.

    Training-mode cases (the batch's statistics, whose mean and variance terms
    enter dx) and inference-mode cases (the moving statistics, constants), then
    a gradient check of dx and dgamma against central differences of
    :func:`cnnlib.ops.batch_norm` in training mode.

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    __tracebackhide__ = True
    family = _backward_family()

    def per_example(which):
        def contributions(case):
            a = case.args
            mean, var = (_moments(a["x"], tuple(range(a["x"].ndim - 1)), 0) if a["training"]
                         else (a["moving_mean"], a["moving_var"]))
            xhat = (a["x"] - mean) / np.sqrt(var + a["epsilon"])
            part = a["dout"] * xhat if which == "dgamma" else a["dout"]
            return part.sum(axis=tuple(range(1, part.ndim - 1)))
        return contributions

    def when(training, mistake):
        return Mistake(mistake.description,
                       lambda case, got: case.args["training"] == training and mistake.explains(case, got),
                       mistake.output)

    mistakes = [
        when(True, family.mistake(
            "dx treats the batch mean and variance as constants: in training mode both depend on every input, "
            "so dx = gamma / sqrt(var + eps) * (dout - mean(dout) - xhat * mean(dout * xhat)), the means per "
            "channel over N, H and W", "dx", family.differs("terms", ((0, 0),)))),
        when(True, family.mistake(
            "dx misses the variance's term, - xhat * mean(dout * xhat): the variance depends on every input too",
            "dx", family.differs("terms", ((1, 0),)))),
        when(True, family.mistake(
            "dx misses the mean's term, - mean(dout): the batch mean depends on every input too", "dx",
            family.differs("terms", ((0, 1),)))),
        when(False, family.mistake(
            "in inference mode the statistics are the moving ones, constants: dx = gamma * dout / "
            "sqrt(moving_var + epsilon), with no mean or variance terms", "dx",
            lambda c: c["terms"] != (0, 0) or c["statistics"] != "forward's")),
        when(True, family.mistake(
            "dx uses the moving statistics: in training mode the forward pass normalized with the batch's, "
            "and the gradient follows the forward pass", "dx", family.differs("statistics"))),
        family.mistake("the means in dx run over the wrong axes: per channel, over every axis but the last",
                       "dx", _axes_wrong),
        family.mistake("dx uses the unbiased variance (divided by m - 1): the forward pass divides by m", "dx",
                       family.differs("ddof")),
        family.mistake("dx is off by a factor m (the number of values per channel): the mean terms are means, "
                       "and dout itself is not divided by m", "dx", family.differs("factor")),
        family.mistake("gamma is missing from dx: out = gamma * xhat + beta, so dx carries gamma / sqrt(var + eps)",
                       "dx", family.differs("gamma")),
        family.mistake("epsilon is in the wrong place: dx divides by sqrt(var + epsilon), as the forward pass",
                       "dx", family.differs("epsilon")),
        family.mistake("dgamma sums dout * x: gamma multiplies the normalized x, so dgamma = sum(dout * xhat)",
                       "dgamma", family.differs("dgamma of", ("x",))),
        family.mistake("dgamma uses other statistics than the forward pass: xhat is normalized with the batch's "
                       "statistics in training mode and the moving ones in inference", "dgamma",
                       family.differs("statistics")),
        *[family.mistake("dgamma and dbeta are sums over the wrong axes: one value per channel, summed over "
                         "every axis but the last", output, _axes_wrong) for output in ("dgamma", "dbeta")],
        family.mistake("dgamma is a mean: the gradient of a sum over the batch is a sum", "dgamma",
                       family.differs("reduce")),
        family.mistake("dbeta is a mean: beta is added to every value, so dbeta = sum of dout per channel",
                       "dbeta", family.differs("reduce")),
        *batch_sum_mistakes("dgamma", per_example("dgamma"), "dgamma"),
        *batch_sum_mistakes("dbeta", per_example("dbeta"), "dbeta"),
        *[Mistake("dgamma and dbeta hold one value per channel, shape (C,)",
                  lambda case, got: got.shape != case.args["gamma"].shape, output) for output in ("dgamma", "dbeta")],
        Mistake("dx must have x's shape", lambda case, got: got.shape != case.args["x"].shape, "dx"),
    ]
    run_cases("batch_norm_backward", batch_norm_backward, _bn_backward_cases(suite), backprop.batch_norm_backward,
               mistakes, outputs=("dx", "dgamma", "dbeta"), allow_reference=allow_reference)
    _gradient_check_batch_norm(batch_norm_backward, allow_reference)


def _gradient_check_batch_norm(fn, allow_reference):
    __tracebackhide__ = True
    rng = np.random.default_rng(53)
    a = _bn_arrays(rng, (3, 4, 3, 2))
    dout = rng.normal(size=a["x"].shape)
    args = {"dout": dout, "x": a["x"], "gamma": a["gamma"], "moving_mean": a["moving_mean"],
            "moving_var": a["moving_var"], "training": True, "epsilon": 1e-3}
    got = call_student("batch_norm_backward", fn, Case(args, "gradient check"), allow_reference)
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise CheckFailed("batch_norm_backward must return (dx, dgamma, dbeta)")

    def out(x, gamma):
        return ops.batch_norm(x, gamma, a["beta"], a["moving_mean"], a["moving_var"], True, 0.9, 1e-3)[0]
    report_gradcheck("batch_norm_backward", "dx", got[0],
                      numerical_gradient(lambda v: out(v, a["gamma"]), a["x"].copy(), dout=dout))
    report_gradcheck("batch_norm_backward", "dgamma", got[1],
                      numerical_gradient(lambda v: out(a["x"], v), a["gamma"].copy(), dout=dout))


# ---------------------------------------------------------------------------
# The residual block
# ---------------------------------------------------------------------------

# (x shape, hidden channels M, output channels F or None for the identity shortcut, stride)
# The public blocks hold every form of the hidden ones (a batch of one, a single input channel).
_BLOCK_PUBLIC = [((2, 5, 4, 3), 4, None, 1), ((2, 3, 4, 3), 2, 3, 1), ((3, 4, 6, 1), 3, 5, 1),
                 ((1, 5, 7, 3), 2, 4, 2)]
_BLOCK_HIDDEN = [((1, 6, 5, 4), 2, None, 1), ((2, 7, 5, 2), 3, 2, 2), ((3, 3, 3, 1), 2, 3, 1),
                 ((2, 6, 6, 3), 5, 6, 2)]


def _block_cases(suite, seed, with_dout=False):
    rng = suite_rng(seed, suite)
    table = _BLOCK_PUBLIC if suite == "public" else _BLOCK_PUBLIC + _BLOCK_HIDDEN
    cases = []
    for shape, hidden, out, stride in table:
        c = shape[3]
        f = c if out is None else out
        args = {"x": rng.normal(size=shape), "w1": rng.normal(size=(1, 1, c, hidden)),
                "b1": rng.normal(size=hidden), "w2": rng.normal(size=(1, 1, hidden, f)), "b2": rng.normal(size=f),
                "w_proj": None if out is None else rng.normal(size=(1, 1, c, f)), "stride": stride}
        note = "identity shortcut" if out is None else f"projection shortcut, stride {stride}"
        if with_dout:
            args = {"dout": rng.normal(size=blocks.residual_block(**args).shape), **args}
        cases.append(Case(args, note))
    return cases


def _conv1x1(x, w, stride=1):
    return x[:, ::stride, ::stride] @ w[0, 0]


def _block_forward_family():
    """Variants of the block: the ReLU between the convolutions, where the shortcut and projection go,
    where the final ReLU goes, the stride."""
    def build(case):
        a = case.args
        x, w1, b1, w2, b2, wp = (a[k] for k in ("x", "w1", "b1", "w2", "b2", "w_proj"))
        for stride_use, inner in itertools.product(("both", "ignored"), (True, False)):
            s = a["stride"] if stride_use == "both" else 1
            xs = x[:, ::s, ::s]
            h = _conv1x1(x, w1, s) + b1
            f = _conv1x1(np.maximum(h, 0) if inner else h, w2) + b2
            shortcuts = {"correct": xs if wp is None else _conv1x1(x, wp, s), "missing": 0}
            if wp is not None:
                shortcuts["identity despite the projection"] = xs
            with np.errstate(all="ignore"):
                outs = {}
                for name, side in shortcuts.items():
                    outs[(name, "relu after the add")] = np.maximum(f + side, 0)
                    outs[(name, "no final relu")] = f + side
                    outs[(name, "relu on the branch before the add")] = np.maximum(f, 0) + side
                if wp is not None and wp.shape[2] == wp.shape[3]:
                    outs[("projection on the branch", "relu after the add")] = np.maximum(_conv1x1(f, wp) + xs, 0)
                    outs[("projection after the add", "relu after the add")] = np.maximum(_conv1x1(f + xs, wp), 0)
                    outs[("projection after the add", "projection after the relu")] = _conv1x1(
                        np.maximum(f + xs, 0), wp)
            for (shortcut, final), out in outs.items():
                yield ({"stride": stride_use, "inner relu": inner, "shortcut": shortcut, "final": final},
                       {None: out})

    return MistakeFamily(build, {"stride": "both", "inner relu": True, "shortcut": "correct",
                           "final": "relu after the add"})


def check_residual_block(residual_block, suite="public", allow_reference=False):
    """Check ``residual_block(x, w1, b1, w2, b2, w_proj=None, stride=1)``.

    The block is ``relu(F(x) + shortcut(x))`` with ``F(x) = conv1x1(relu(conv1x1(x, w1, stride) + b1), w2) + b2``
    and the shortcut ``x`` itself (``w_proj=None``) or ``conv1x1(x, w_proj, stride)`` (a projection, no
    bias); kernels are HWIO (1, 1, C_in, C_out). Compared with
    :func:`cnnlib.blocks.residual_block` (cnnlib's ResidualBlock and a ReLU).

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    __tracebackhide__ = True
    family = _block_forward_family()
    mistakes = [
        family.mistake("the shortcut is missing: a residual block adds its input (or its projection) to the "
                       "branch's output before the final ReLU", None, family.differs("shortcut", ("missing",))),
        family.mistake("the projection is on the wrong branch: it belongs to the shortcut, "
                       "relu(F(x) + conv1x1(x, w_proj)); the branch F is unchanged", None,
                       family.differs("shortcut", ("projection on the branch", "projection after the add"))),
        family.mistake("the shortcut ignores w_proj: when the block has a projection, the shortcut is "
                       "conv1x1(x, w_proj, stride), not x", None,
                       family.differs("shortcut", ("identity despite the projection",))),
        family.mistake("the final ReLU is in the wrong place: it comes after the addition, relu(F(x) + shortcut)",
                       None, family.differs("final")),
        family.mistake("the ReLU between the two convolutions is missing", None, family.differs("inner relu")),
        family.mistake("the stride is ignored: the first convolution and the projection step by `stride` "
                       "(x[:, ::stride, ::stride] before a 1x1 convolution)", None, family.differs("stride")),
        Mistake("the output has the wrong shape: (N, ceil(H / stride), ceil(W / stride), F), F the channels of w2",
                lambda case, got: got.shape != blocks.residual_block(**case.copy_args()).shape),
    ]
    run_cases("residual_block", residual_block, _block_cases(suite, seed=60), blocks.residual_block, mistakes,
               allow_reference=allow_reference)


# ---------------------------------------------------------------------------
# The residual block's backward pass
# ---------------------------------------------------------------------------

_BLOCK_GRADS = ("dx", "dw1", "db1", "dw2", "db2", "dw_proj")


def _block_backward_variant(dout, x, w1, b1, w2, b2, w_proj, stride, final_mask, inner_mask, branch, shortcut):
    """The block's gradients with the final ReLU's mask applied to ``final_mask`` ("both", "neither",
    "branch", "shortcut"), the inner ReLU's mask or not, and the two paths' input gradients weighted
    ``branch`` and ``shortcut`` in dx."""
    s = stride
    xs = x[:, ::s, ::s]
    h = _conv1x1(x, w1, s) + b1
    f = _conv1x1(np.maximum(h, 0), w2) + b2
    z = f + (xs if w_proj is None else _conv1x1(x, w_proj, s))
    mask = z > 0
    d_branch = dout * mask if final_mask in ("both", "branch") else dout
    d_short = dout * mask if final_mask in ("both", "shortcut") else dout
    dw2 = np.einsum("nijm,nijf->mf", np.maximum(h, 0), d_branch)[None, None]
    db2 = d_branch.sum(axis=(0, 1, 2))
    dh = d_branch @ w2[0, 0].T
    if inner_mask:
        dh = dh * (h > 0)
    dw1 = np.einsum("nijc,nijm->cm", xs, dh)[None, None]
    db1 = dh.sum(axis=(0, 1, 2))
    dx = np.zeros_like(x, dtype=np.float64)
    dxs = branch * (dh @ w1[0, 0].T)
    if w_proj is None:
        dxs = dxs + shortcut * d_short
        dw_proj = None
    else:
        dxs = dxs + shortcut * (d_short @ w_proj[0, 0].T)
        dw_proj = np.einsum("nijc,nijf->cf", xs, d_short)[None, None]
    dx[:, ::s, ::s] = dxs
    return dx, dw1, db1, dw2, db2, dw_proj


def _block_backward_family():
    def build(case):
        for final, inner, branch, shortcut in itertools.product(("both", "neither", "branch", "shortcut"),
                                                                (True, False), (1, 0), (1, 0, 2)):
            grads = _block_backward_variant(**case.args, final_mask=final, inner_mask=inner, branch=branch,
                                            shortcut=shortcut)
            yield ({"final mask": final, "inner mask": inner, "branch": branch, "shortcut": shortcut},
                   dict(zip(_BLOCK_GRADS, grads)))

    return MistakeFamily(build, {"final mask": "both", "inner mask": True, "branch": 1, "shortcut": 1})


def check_residual_block_backward(residual_block_backward, suite="public", allow_reference=False):
    """Check ``residual_block_backward(dout, x, w1, b1, w2, b2, w_proj=None, stride=1)``.

    Expects ``(dx, dw1, db1, dw2, db2, dw_proj)`` for the block of
    :func:`check_residual_block`, ``dw_proj`` None when there is no projection.
    Then a gradient check of dx, dw1, dw2 and dw_proj against central differences.

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    __tracebackhide__ = True
    family = _block_backward_family()

    def per_example(index):
        def contributions(case):
            a = case.copy_args()
            return np.stack([blocks.residual_block_backward(
                a["dout"][n:n + 1], a["x"][n:n + 1], *(a[k] for k in ("w1", "b1", "w2", "b2", "w_proj")),
                a["stride"])[index] for n in range(len(a["x"]))])
        return contributions

    mask = ("the gradient is not masked by the final ReLU: both paths receive dout * (z > 0), z = F(x) + "
            "shortcut(x) the ReLU's input")
    mistakes = [
        family.mistake("the shortcut's gradient is missing from dx: x feeds both the branch and the shortcut, "
                       "so dx is the sum of the gradients through both", "dx", family.differs("shortcut", (0,))),
        family.mistake("the shortcut's gradient is added twice: dx = (gradient through the branch) + "
                       "(gradient through the shortcut), each once", "dx", family.differs("shortcut", (2,))),
        family.mistake("dx holds only the shortcut's gradient: add the gradient through the branch", "dx",
                       family.differs("branch")),
        *[family.mistake(mask, output, family.differs("final mask")) for output in _BLOCK_GRADS],
        *[family.mistake("the ReLU between the two convolutions is not masked in the backward pass: "
                         "multiply by (conv1x1(x, w1) + b1 > 0)", output, family.differs("inner mask"))
          for output in ("dx", "dw1", "db1")],
        Mistake("dx must have x's shape (N, H, W, C): with stride > 1 the pixels the stride skips get a zero "
                "gradient, and the others go back where x[:, ::stride, ::stride] took them from",
                lambda case, got: got.shape != case.args["x"].shape, "dx"),
    ]
    for i, name in enumerate(_BLOCK_GRADS[1:], 1):
        mistakes += batch_sum_mistakes(name, per_example(i), name)
    _run_cases_with_optional("residual_block_backward", residual_block_backward,
                             _block_cases(suite, seed=61, with_dout=True), blocks.residual_block_backward,
                             mistakes, _BLOCK_GRADS, allow_reference)
    _gradient_check_block(residual_block_backward, allow_reference)


def _run_cases_with_optional(name, fn, cases, reference, mistakes, outputs, allow_reference):
    """:func:`cnnlib.grading.core.run_cases` for a tuple result whose parts may be None by design
    (dw_proj without a projection): a part must be None exactly when the reference's is."""
    __tracebackhide__ = True
    for number, case in enumerate(cases, 1):
        expected = reference(**case.copy_args())
        got = call_student(name, fn, case, allow_reference)
        if not isinstance(got, (tuple, list)) or len(got) != len(outputs):
            count = len(got) if isinstance(got, (tuple, list)) else "one value"
            raise CheckFailed(f"{name} must return a tuple {tuple(outputs)}, got {count}: "
                              f"{type(got).__name__}\n  case: {case.describe()}")
        lines, diagnoses = [], []
        for label, want, part in zip(outputs, expected, got):
            if want is None or part is None:
                if want is None and part is not None:
                    lines.append(f"  {label} is an array, expected None")
                    diagnoses.append(f"{label} must be None when w_proj is None: without a projection the "
                                     f"block has no such weight")
                elif part is None and want is not None:
                    lines.append(f"  {label} is None, expected an array of shape {np.shape(want)}")
                    diagnoses.append(f"the block has a projection (w_proj is given): return its gradient as {label}")
                continue
            arr, why = as_array(part, label)
            diff = None if why else measure_difference(want, arr)
            if why or diff:
                lines.append(f"  {why or describe_difference(label, diff)}")
                diagnoses += [m.description for m in mistakes if not why and m.output == label
                              and m.explains(case, arr)][:1]
        if lines:
            report = [f"{name} is wrong on case {number} of {len(cases)}:", f"  case: {case.describe()}", *lines]
            report += [f"  diagnosis: {d}" for d in dict.fromkeys(diagnoses)] or [
                "  diagnosis: none of the usual mistakes explains this output; compare your result with a "
                "small example worked by hand."]
            raise CheckFailed("\n".join(report))
    print(f"{name}: all {len(cases)} cases agree with the reference.")


def _gradient_check_block(fn, allow_reference):
    __tracebackhide__ = True
    rng = np.random.default_rng(62)
    a = {"x": rng.normal(size=(2, 5, 3, 2)), "w1": rng.normal(size=(1, 1, 2, 3)), "b1": rng.normal(size=3),
         "w2": rng.normal(size=(1, 1, 3, 4)), "b2": rng.normal(size=4), "w_proj": rng.normal(size=(1, 1, 2, 4)),
         "stride": 2}
    dout = rng.normal(size=blocks.residual_block(**a).shape)
    got = call_student("residual_block_backward", fn, Case({"dout": dout, **a}, "gradient check"), allow_reference)
    if not isinstance(got, (tuple, list)) or len(got) != 6:
        raise CheckFailed("residual_block_backward must return (dx, dw1, db1, dw2, db2, dw_proj)")
    for label, key, part in (("dx", "x", got[0]), ("dw1", "w1", got[1]), ("dw2", "w2", got[3]),
                             ("dw_proj", "w_proj", got[5])):
        def forward(v, key=key):
            return blocks.residual_block(**{**a, key: v})
        report_gradcheck("residual_block_backward", label, part,
                          numerical_gradient(forward, a[key].copy(), dout=dout))

"""cnnlib.grading: right answers pass, each known mistake is named, references are refused.

Wrong functions here are built from cnnlib's reference with one deliberate
change (allow_reference=True lets them call it); the realistic, loop-written
wrong submissions live in tests/fixtures/ and run through nbgrader in
tests/test_assignments.py. The right answers are the instructor's solution
cells, executed from solutions/.
"""

from pathlib import Path

import nbformat
import numpy as np
import pytest

from cnnlib import backprop, blocks, grading, ops, shapes
from cnnlib.arguments import int_pair
from cnnlib.grading import CheckFailed, convolution, core, network, pooling_backprop, visualization
from tools import course


def solution_functions(name):
    """Execute the instructor's solution cells of one assignment; return their namespace."""
    namespace = {"np": np}
    exec("from cnnlib.ops import zero_pad", namespace)  # a2 imports it in its set-up cell
    for grade_id, code in course.solution_fill(name).items():
        if grade_id in ("zero_pad", "conv_output_size", "conv_single_step", "conv2d", "pool2d",
                        "pool2d_backward", "relu_backward", "conv2d_backward",
                        "softmax_cross_entropy", "dense_backward"):
            exec(code, namespace)
    return namespace


A1 = solution_functions("a1_convolution")
A2 = solution_functions("a2_pooling_and_backprop")
A3 = solution_functions("a3_training_a_cnn")
A5_NAME = "a5_batchnorm_and_residuals"


def a5_functions(changes=()):
    """Assignment 5's solution cells, each ``(old, new)`` text replacement applied first: a wrong answer
    written the way a student would, not built from the reference."""
    namespace = {"np": np}
    for code in course.solution_fill(A5_NAME).values():
        for old, new in changes:
            code = code.replace(old, new) if old in code else code
        exec(code, namespace)
    sources = "".join(course.solution_fill(A5_NAME).values())
    for old, _ in changes:
        assert old in sources, f"the a5 solution no longer contains {old!r}"
    return namespace


A5 = a5_functions()

CHECKS = [
    (grading.check_zero_pad, A1["zero_pad"], ops.zero_pad),
    (grading.check_conv_output_size, A1["conv_output_size"], shapes.conv_output_size),
    (grading.check_conv_single_step, A1["conv_single_step"], ops.conv_single_step),
    (grading.check_conv2d, A1["conv2d"], ops.conv2d),
    (grading.check_pool2d, A2["pool2d"], ops.pool2d),
    (grading.check_pool2d_backward, A2["pool2d_backward"], backprop.pool2d_backward),
    (grading.check_relu_backward, A2["relu_backward"], backprop.relu_backward),
    (grading.check_conv2d_backward, A2["conv2d_backward"], backprop.conv2d_backward),
    (grading.check_softmax_cross_entropy, A3["softmax_cross_entropy"], backprop.softmax_cross_entropy),
    (grading.check_dense_backward, A3["dense_backward"], backprop.dense_backward),
    (grading.check_batch_norm_training, A5["batch_norm"], ops.batch_norm),
    (grading.check_batch_norm_inference, A5["batch_norm"], ops.batch_norm),
    (grading.check_batch_norm_backward, A5["batch_norm_backward"], backprop.batch_norm_backward),
    (grading.check_residual_block, A5["residual_block"], blocks.residual_block),
    (grading.check_residual_block_backward, A5["residual_block_backward"], blocks.residual_block_backward),
]
IDS = [check.__name__ for check, _, _ in CHECKS]


def failure(check, fn, **kwargs):
    """The message of the CheckFailed that check(fn) raises (the test fails if it passes)."""
    with pytest.raises(CheckFailed) as info:
        check(fn, **kwargs)
    return str(info.value)


@pytest.mark.parametrize("check, student, reference", CHECKS, ids=IDS)
@pytest.mark.parametrize("suite", ["public", "hidden"])
def test_solutions_and_references_pass(check, student, reference, suite, capsys):
    check(student, suite=suite)
    check(reference, suite=suite, allow_reference=True)
    assert "agree with the reference" in capsys.readouterr().out


@pytest.mark.parametrize("check, student, reference", CHECKS, ids=IDS)
def test_calling_the_reference_fails_and_says_so(check, student, reference):
    for student in (lambda *a, **k: reference(*a, **k), reference):   # wrapped, or handed over as it is
        message = failure(check, student)
        assert f"calls {reference.__module__}.{reference.__name__} from cnnlib" in message
        assert "compute this yourself" in message


def test_calling_tf_nn_fails_and_says_so(tf):
    def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
        padded = A1["zero_pad"](x, padding)
        return tf.nn.conv2d(padded, w, stride, "VALID").numpy() + (0 if b is None else b)

    message = failure(grading.check_conv2d, conv2d)
    assert "from TensorFlow" in message and "calls tensorflow." in message


def test_earlier_answers_may_be_called_as_helpers():
    """conv2d may call cnnlib's zero_pad and conv_output_size (they are Assignment 1's own answers)."""
    def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
        ns = dict(A1, zero_pad=ops.zero_pad, conv_output_size=shapes.conv_output_size)
        exec(course.solution_fill("a1_convolution")["conv2d"], ns)
        return ns["conv2d"](x, w, b, stride, padding, dilation)

    grading.check_conv2d(conv2d)


def test_unknown_suite_is_refused():
    with pytest.raises(ValueError, match="suite must be 'public' or 'hidden'"):
        grading.check_conv2d(ops.conv2d, suite="secret", allow_reference=True)


def test_cases_cover_the_geometry_the_issue_asks_for():
    cases = convolution.conv_cases("hidden")
    x_shapes = [c.args["x"].shape for c in cases]
    w_shapes = [c.args["w"].shape for c in cases]
    assert any(h != w for _, h, w, _ in x_shapes)
    assert any(kh != kw for kh, kw, _, _ in w_shapes)
    assert any(cin != cout for _, _, cin, cout in w_shapes)
    strides = [int_pair(c.args["stride"]) for c in cases]
    assert {1, 2, 3} <= {s for pair in strides for s in pair} and any(a != b for a, b in strides)
    paddings = [int_pair(c.args["padding"]) for c in cases]
    assert {0, 1, 2} <= {p for pair in paddings for p in pair} and any(a != b for a, b in paddings)
    public = convolution.conv_cases("public")
    assert len(public) < len(cases)
    np.testing.assert_array_equal(public[0].args["x"], convolution.conv_cases("public")[0].args["x"])


def test_failure_message_shows_case_index_and_values():
    def off_by_a_bit(x, w, b=None, stride=1, padding=0, dilation=1):
        out = ops.conv2d(x, w, b, stride, padding)
        out[0, 1, 2, 0] += 0.5
        return out

    message = failure(grading.check_conv2d, off_by_a_bit, allow_reference=True)
    count = len(convolution._dilated_conv_cases("public"))
    assert f"conv2d is wrong on case 1 of {count}" in message
    assert "x.shape=(2, 5, 6, 1), w.shape=(3, 3, 1, 2)" in message
    case = convolution.conv_cases("public")[0].args
    expected = ops.conv2d(case["x"], case["w"], case["b"])[0, 1, 2, 0]
    assert f"the output[0, 1, 2, 0] = {expected + 0.5:.8g}, expected {expected:.8g}" in message
    assert "(1 of 48 entries differ)" in message
    assert "none of the usual mistakes explains this output" in message


def test_errors_and_missing_returns_are_reported_with_the_case():
    def crashes(x, pad):
        raise IndexError("tuple index out of range")

    message = failure(grading.check_zero_pad, crashes)
    assert "zero_pad raised IndexError: tuple index out of range" in message
    assert "case: x.shape=(1, 3, 4, 1), pad=1" in message
    message = failure(grading.check_zero_pad, lambda x, pad: None)
    assert "did you forget a return statement?" in message and "diagnosis" not in message


# --- every mistake the issue lists, named ------------------------------------------------

def ref_conv(change):
    """A conv2d that calls the reference with its arguments changed by ``change``."""
    def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
        args = change(dict(x=x, w=w, b=b, stride=stride, padding=padding))
        return ops.conv2d(**args)
    return conv2d


def too_big_by_one(x, w, b=None, stride=1, padding=0, dilation=1):
    out = ops.conv2d(x, w, b, stride, padding)
    return np.concatenate([out, np.zeros_like(out[:, :1])], axis=1)


def batch_padded(x, w, b=None, stride=1, padding=0, dilation=1):
    ph = int_pair(padding)[0]
    out = ops.conv2d(x, w, b, stride, padding)
    return np.pad(out, ((ph, ph), (0, 0), (0, 0), (0, 0)))


CONV_MISTAKES = [
    (ref_conv(lambda a: {**a, "w": a["w"][::-1, ::-1]}), "the kernel is flipped"),
    (too_big_by_one, "one row or column too big or too small"),
    (ref_conv(lambda a: {**a, "stride": 1}), "the stride is ignored"),
    (ref_conv(lambda a: {**a, "stride": (int_pair(a["stride"])[0], 1)}), "applied to the rows only"),
    (ref_conv(lambda a: {**a, "stride": (1, int_pair(a["stride"])[1])}), "applied to the columns only"),
    (ref_conv(lambda a: {**a, "padding": 0}), "the padding is ignored"),
    (batch_padded, "applied to the batch axis too"),
    (ref_conv(lambda a: {**a, "b": None}), "the bias is missing"),
    (ref_conv(lambda a: {**a, "b": a["b"] * a["w"][:, :, :, 0].size}), "added per pixel of the window"),
]


@pytest.mark.parametrize("wrong, diagnosis", CONV_MISTAKES, ids=[d for _, d in CONV_MISTAKES])
@pytest.mark.parametrize("suite", ["public", "hidden"])
def test_conv2d_mistakes_are_named(wrong, diagnosis, suite):
    message = failure(grading.check_conv2d, wrong, suite=suite, allow_reference=True)
    assert diagnosis in message.split("diagnosis: ", 1)[1]


def test_zero_pad_mistakes_are_named():
    def pad_axes(axes):
        def zero_pad(x, pad):
            p = int_pair(pad)[0]
            return np.pad(x, [(p, p) if axis in axes else (0, 0) for axis in range(4)])
        return zero_pad

    assert "every axis is padded" in failure(grading.check_zero_pad, pad_axes((0, 1, 2, 3)),
                                        allow_reference=True)
    assert "the batch axis is padded" in failure(grading.check_zero_pad, pad_axes((0, 1, 2)),
                                        allow_reference=True)
    assert "the channel axis is padded" in failure(grading.check_zero_pad, pad_axes((1, 2, 3)),
                                        allow_reference=True)


def test_output_size_mistakes_are_named():
    def size(formula):
        return lambda n, k, padding=0, stride=1, dilation=1, strict=False: formula(n, k, padding, stride, dilation)

    assert "the '+ 1' is missing" in failure(grading.check_conv_output_size,
                                             size(lambda n, k, p, s, d: (n + 2 * p - d * (k - 1) - 1) // s))
    assert "the stride is ignored" in failure(grading.check_conv_output_size,
                                              size(lambda n, k, p, s, d: n + 2 * p - d * (k - 1)))
    assert "the dilation is ignored" in failure(grading.check_conv_output_size,
                                                size(lambda n, k, p, s, d: (n + 2 * p - k) // s + 1))
    assert "must return an int" in failure(grading.check_conv_output_size,
                                           size(lambda n, k, p, s, d: (n + 2 * p - d * (k - 1) - 1) / s + 1))


def test_single_step_bias_mistakes_are_named():
    assert "the bias is added to every product" in failure(
        grading.check_conv_single_step, lambda a_slice, w, b: np.sum(a_slice * w + b))
    assert "the bias is missing" in failure(grading.check_conv_single_step, lambda a_slice, w, b: np.sum(a_slice * w))
    assert "the products are not summed" in failure(grading.check_conv_single_step,
                                                    lambda a_slice, w, b: a_slice * w + np.asarray(b).item())


def pool_backward_as(mode_for_max=None, mode_for_avg=None, rule=None):
    def pool2d_backward(dout, x, pool_size=2, stride=None, padding=0, mode="max"):
        if rule and mode == "max":
            return pooling_backprop._max_pool_backward_variant(dout, x, pool_size, stride, rule)
        use = {"max": mode_for_max or "max", "avg": mode_for_avg or "avg"}[mode]
        return backprop.pool2d_backward(dout, x, pool_size, stride, padding, mode=use)
    return pool2d_backward


@pytest.mark.parametrize("wrong, diagnosis", [
    (pool_backward_as(mode_for_max="sum"), "sends the gradient to every position of the window"),
    (pool_backward_as(rule="all_ties"), "sends the gradient to all tied maxima"),
    (pool_backward_as(rule="last"), "picks the last of tied maxima"),
    (pool_backward_as(rule="overwrite"), "overlapping windows overwrite"),
    (pool_backward_as(mode_for_avg="sum"), "average-pool backward is not divided by the window size"),
])
def test_pool_backward_mistakes_are_named(wrong, diagnosis):
    assert diagnosis in failure(grading.check_pool2d_backward, wrong, allow_reference=True)


def test_max_pool_variants_differ_from_the_reference_on_tied_cases():
    """The tie cases really contain ties, so 'all tied maxima' cannot pass by luck."""
    pools = pooling_backprop._pool_cases("public", ("max",), seed=7, ties=True)
    cases = pooling_backprop._with_dout(pools, ops.pool2d, 8)
    for rule in ("all_ties", "last"):
        assert any(not np.allclose(pooling_backprop._max_pool_backward_variant(
            c.args["dout"], c.args["x"], c.args["pool_size"], c.args["stride"], rule),
            backprop.pool2d_backward(**c.args)) for c in cases)


def conv_backward_with(change):
    def conv2d_backward(dout, x, w, stride=1, padding=0, dilation=1):
        dx, dw, db = backprop.conv2d_backward(dout, x, w, stride, padding)
        return change(dout, x, w, stride, padding, dx, dw, db)
    return conv2d_backward


def per_example_db(dout, x, w, stride, padding, dx, dw, db):
    return dx, dw, dout.sum(axis=(1, 2))


def last_example_dw(dout, x, w, stride, padding, dx, dw, db):
    return dx, backprop.conv2d_backward(dout[-1:], x[-1:], w, stride, padding)[1], db


@pytest.mark.parametrize("change, diagnosis", [
    (last_example_dw, "dw is not summed over the batch: it holds only the last example's gradient"),
    (lambda dout, x, w, s, p, dx, dw, db: (dx, dw / len(x), db), "dw is averaged over the batch"),
    (per_example_db, "db is not summed over the batch: it holds one gradient per example"),
    (lambda dout, x, w, s, p, dx, dw, db: (dx, dw, dout[-1].sum(axis=(0, 1))),
     "db is not summed over the batch: it holds only the last example's gradient"),
    (lambda dout, x, w, s, p, dx, dw, db: (dx, dw[::-1, ::-1], db), "dw is flipped"),
])
def test_conv_backward_mistakes_are_named(change, diagnosis):
    assert diagnosis in failure(grading.check_conv2d_backward, conv_backward_with(change), allow_reference=True)


def test_batch_summation_mistakes_are_named_as_a_family():
    """Spellings the fixtures do not use (the first example instead of the last, a factor N, an average
    over every position) still get the batch-summation diagnosis, in both suites."""
    def first_example_dw(dout, x, w, s, p, dx, dw, db):
        return dx, backprop.conv2d_backward(dout[:1], x[:1], w, s, p)[1], db

    for change, diagnosis in [
        (first_example_dw, "dw is not summed over the batch: it holds only one example's gradient"),
        (lambda dout, x, w, s, p, dx, dw, db: (dx, dw * len(x), db), "dw is the batch's sum times a constant"),
        (lambda dout, x, w, s, p, dx, dw, db: (dx, dw, dout.mean(axis=(0, 1, 2))),
         "db is the batch's sum times a constant"),
        (lambda dout, x, w, s, p, dx, dw, db: (dx, dw, dout[0].sum(axis=(0, 1))),
         "db is not summed over the batch: it holds only one example's gradient"),
    ]:
        for suite in ("public", "hidden"):
            message = failure(grading.check_conv2d_backward, conv_backward_with(change), suite=suite,
                              allow_reference=True)
            assert diagnosis in message, message


def test_example_weights_recover_the_weighting():
    rng = np.random.default_rng(0)
    parts = rng.standard_normal((3, 4, 5))
    for weights in ([1, 1, 1], [0, 0, 1], [0.5, 0.5, 0.5], [1, 0, 1], [2, -1, 0.25]):
        np.testing.assert_allclose(core._example_weights(parts, np.tensordot(weights, parts, 1)), weights, atol=1e-9)
    assert core._example_weights(parts, rng.standard_normal((4, 5))) is None
    few = rng.standard_normal((4, 2))            # more examples than numbers: only the usual weightings
    np.testing.assert_array_equal(core._example_weights(few, few[2]), [0, 0, 1, 0])
    np.testing.assert_allclose(core._example_weights(few, few.mean(axis=0)), [0.25] * 4)
    assert core._example_weights(few, few[0] + 2 * few[1]) is None


# --- Assignment 5: families of mistakes, in spellings the fixtures do not use ---------------

BN_CHANGES = [
    ([("mean = x.mean(axis=axes)\n        var = x.var(axis=axes)", "per_image = (1, 2) if x.ndim == 4 else (1,)\n"
       "        mean = x.mean(axis=per_image, keepdims=True)\n        var = x.var(axis=per_image, keepdims=True)")],
     "check_batch_norm_training", "the statistics are taken over the wrong axes"),
    ([("mean = x.mean(axis=axes)\n        var = x.var(axis=axes)", "mean = x.mean()\n        var = x.var()")],
     "check_batch_norm_training", "the statistics are taken over the wrong axes"),
    ([("var = x.var(axis=axes)    ", "var = x.var(axis=axes, ddof=1)")], "check_batch_norm_training",
     "the variance is the unbiased one"),
    ([("new_mean = momentum * moving_mean + (1 - momentum) * mean", "new_mean = moving_mean"),
      ("new_var = momentum * moving_var + (1 - momentum) * var", "new_var = moving_var")],
     "check_batch_norm_training", "not updated in training mode"),
    ([("new_var = momentum * moving_var + (1 - momentum) * var", "new_var = momentum * moving_var + "
       "(1 - momentum) * np.sqrt(var)")], "check_batch_norm_training", "averages the standard deviation"),
    ([("xhat = (x - mean) / np.sqrt(var + epsilon)", "xhat = (x - mean) / (np.sqrt(var) + epsilon)")],
     "check_batch_norm_training", "epsilon is in the wrong place"),
    ([("return gamma * xhat + beta, new_mean", "return beta * xhat + gamma, new_mean")],
     "check_batch_norm_inference", "gamma and beta are swapped"),
    ([("xhat = (x - mean) / np.sqrt(var + epsilon)", "xhat = (x - new_mean) / np.sqrt(new_var + epsilon)")],
     "check_batch_norm_training", "normalizes with the batch's own mean and variance, not the moving"),
    ([("new_mean, new_var = moving_mean.copy(), moving_var.copy()", "new_mean, new_var = 0.5 * moving_mean, "
       "moving_var")], "check_batch_norm_inference", "updated in inference mode"),
    ([("dx = gamma * inv_std * (dout - dout.mean(axis=axes) - xhat * (dout * xhat).mean(axis=axes))",
       "dx = gamma * inv_std * (dout - dout.mean(axis=axes))")], "check_batch_norm_backward",
     "dx misses the variance's term"),
    ([("dx = gamma * inv_std * (dout - dout.mean(axis=axes) - xhat * (dout * xhat).mean(axis=axes))",
       "dx = gamma * inv_std * (dout - dout.mean(axis=0) - xhat * (dout * xhat).mean(axis=0))")],
     "check_batch_norm_backward", "the means in dx run over the wrong axes"),
    ([("dx = gamma * inv_std * (dout - dout.mean(axis=axes) - xhat * (dout * xhat).mean(axis=axes))",
       "dx = gamma * inv_std * (x.size // x.shape[-1] * dout - dbeta - xhat * dgamma)")],
     "check_batch_norm_backward", "dx is off by a factor m"),
    ([("    if training:\n        dx = gamma", "    if True:\n        dx = gamma")], "check_batch_norm_backward",
     "in inference mode the statistics are the moving ones, constants"),
    ([("dgamma = (dout * xhat).sum(axis=axes)", "dgamma = (dout * xhat)[0].reshape(-1, x.shape[-1]).sum(axis=0)")],
     "check_batch_norm_backward", "dgamma is not summed over the batch: it holds only one example's gradient"),
    ([("dbeta = dout.sum(axis=axes)", "dbeta = dout.sum(axis=0)")], "check_batch_norm_backward",
     "sums over the wrong axes"),
    ([("return np.maximum(f + shortcut, 0)", "return np.maximum(f, 0) + shortcut")], "check_residual_block",
     "the final ReLU is in the wrong place"),
    ([("shortcut = xs if w_proj is None else xs @ w_proj[0, 0]\n    return np.maximum(f + shortcut, 0)",
       "out = f + xs\n    if w_proj is not None:\n        out = out @ w_proj[0, 0]\n    return np.maximum(out, 0)")],
     "check_residual_block", "the projection is on the wrong branch"),
    ([("h = np.maximum(xs @ w1[0, 0] + b1, 0)", "h = xs @ w1[0, 0] + b1")], "check_residual_block",
     "the ReLU between the two convolutions is missing"),
    ([("dxs = dxs + dz ", "dxs = dxs + dout ")],   # both shortcuts get the unmasked gradient
     "check_residual_block_backward", "not masked by the final ReLU"),
    ([("dw2 = np.einsum(\"nijm,nijf->mf\", h, dz)[None, None]",
       "dw2 = np.einsum(\"ijm,ijf->mf\", h[0], dz[0])[None, None]")], "check_residual_block_backward",
     "dw2 is not summed over the batch: it holds only one example's gradient"),
    ([("        dw_proj = None\n", "        dw_proj = np.zeros((1, 1, x.shape[3], x.shape[3]))\n")],
     "check_residual_block_backward", "dw_proj must be None when w_proj is None"),
    ([("dx = np.zeros(x.shape)\n    dx[:, ::stride, ::stride] = dxs\n    return dx", "return dxs")],
     "check_residual_block_backward", "dx must have x's shape"),
]


@pytest.mark.parametrize("changes, check, diagnosis", BN_CHANGES, ids=[d for *_, d in BN_CHANGES])
@pytest.mark.parametrize("suite", ["public", "hidden"])
def test_a5_mistake_families_are_named(changes, check, diagnosis, suite):
    ns = a5_functions(changes)
    name = {"check_batch_norm_training": "batch_norm", "check_batch_norm_inference": "batch_norm",
            "check_batch_norm_backward": "batch_norm_backward", "check_residual_block": "residual_block",
            "check_residual_block_backward": "residual_block_backward"}[check]
    message = failure(getattr(grading, check), ns[name], suite=suite)
    assert diagnosis in message.split("diagnosis: ", 1)[-1], message


def test_a5_functions_must_return_new_moving_averages():
    def in_place(x, gamma, beta, moving_mean, moving_var, training=False, momentum=0.99, epsilon=1e-3):
        out, mean, var = A5["batch_norm"](x, gamma, beta, moving_mean, moving_var, training, momentum, epsilon)
        moving_mean[...] = mean
        return out
    assert "must return a tuple (out, new_moving_mean, new_moving_var)" in failure(
        grading.check_batch_norm_training, in_place)


def test_relu_backward_mistakes_are_named():
    assert "does not mask" in failure(grading.check_relu_backward, lambda dout, x: dout)
    assert "use x > 0, not x >= 0" in failure(grading.check_relu_backward,
                                              lambda dout, x: np.where(x >= 0, dout, 0))
    assert "returns the mask (x > 0) alone" in failure(grading.check_relu_backward,
                                                       lambda dout, x: (x > 0) * 1.0)


def test_gradient_check_catches_what_the_cases_miss():
    """A backward pass right on every case but wrong elsewhere still fails the numerical check."""
    seen = []

    def relu_backward(dout, x):
        seen.append(x.shape)
        dx = np.where(x > 0, dout, 0.0)
        if x.shape == (3, 4, 5, 2):      # the gradient-check input, not one of the cases
            dx[0, 0, 0, 0] += 1.0
        return dx

    message = failure(grading.check_relu_backward, relu_backward)
    assert "gradient check: dx differs from central differences" in message
    assert (3, 4, 5, 2) in seen


def test_loss_mistakes_are_named():
    def summed(logits, labels):
        loss, dlogits = backprop.softmax_cross_entropy(logits, labels)
        return loss * len(logits), dlogits

    def naive(logits, labels):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
            rows = np.arange(len(logits))
            loss = -np.log(probs[rows, labels]).mean()
        probs[rows, labels] -= 1
        return loss, probs / len(logits)

    assert "the loss is summed over the batch" in failure(grading.check_softmax_cross_entropy, summed,
                                                           allow_reference=True)
    assert "exp overflowed" in failure(grading.check_softmax_cross_entropy, naive)


def test_dense_backward_mistakes_are_named():
    assert "dw is transposed" in failure(grading.check_dense_backward,
                                         lambda dout, x, w: (dout @ w.T, dout.T @ x, dout.sum(axis=0)))
    assert "db is not summed over the batch" in failure(grading.check_dense_backward,
                                                        lambda dout, x, w: (dout @ w.T, x.T @ dout, dout))


@pytest.mark.parametrize("kernel", [
    [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],          # Sobel, the sign that answers the question
    [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]],          # Prewitt
    [[0, 0, 0], [0, -1, 1], [0, 0, 0]],            # a plain difference
    [[0, -5, 5], [0, -5, 5], [0, -5, 5]],          # another place and scale
])
def test_any_left_to_right_edge_kernel_passes(kernel, capsys):
    grading.check_vertical_edge_kernel(np.array(kernel, dtype=float))
    assert "Right:" in capsys.readouterr().out


@pytest.mark.parametrize("kernel, diagnosis", [
    ([[1, 0, -1], [2, 0, -2], [1, 0, -1]], "responds negatively where the image gets brighter to the right"),
    ([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], "responds to a horizontal edge"),
    ([[1, -2, 1], [1, -2, 1], [1, -2, 1]], "responds with both signs"),
    (np.ones((3, 3)) / 9, "its weights add up to 1"),
    ([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], "responds to a horizontal edge"),
])
def test_an_edge_kernel_that_misses_is_named(kernel, diagnosis):
    assert diagnosis in failure(grading.check_vertical_edge_kernel, np.array(kernel, dtype=float))


def test_an_edge_kernel_of_the_wrong_form_is_refused():
    assert "must be a 3x3 array" in failure(grading.check_vertical_edge_kernel, np.ones((2, 3)))
    assert "is not numeric" in failure(grading.check_vertical_edge_kernel, "B")


def test_edge_image_check():
    rng = np.random.default_rng(0)
    image, kernel = rng.random((9, 7)), rng.normal(size=(3, 3))
    expected = ops.correlate2d(image, kernel)
    grading.check_edge_image(expected, image, kernel)
    grading.check_edge_image(expected[None, :, :, None], image, kernel)
    assert "kernel is flipped" in failure(grading.check_edge_image, ops.convolve2d(image, kernel), image=image,
                                          kernel=kernel)


def test_model_accuracy_is_measured_on_the_held_out_digits():
    from cnnlib import layers
    from cnnlib.model import Sequential

    untrained = Sequential([layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(10)],
                           input_shape=(28, 28, 1), seed=0)
    assert "below the required 93%" in failure(grading.check_model_accuracy, untrained, minimum=0.93)
    dense_only = Sequential([layers.Flatten(), layers.Dense(10)], input_shape=(28, 28, 1), seed=0)
    assert "has no Conv2D layer" in failure(grading.check_model_accuracy, dense_only, minimum=0.0)
    assert grading.check_model_accuracy(untrained, minimum=0.0) is None   # a number would be partial credit


def _course_cnn(filters=16):
    from cnnlib import layers
    from cnnlib.model import Sequential

    return Sequential([layers.Conv2D(filters, 3), layers.ReLU(), layers.MaxPool2D(2),
                       layers.Flatten(), layers.Dense(10)], input_shape=(28, 28, 1), seed=0)


@pytest.mark.parametrize("recipe, message", [
    ({"epochs": 2, "batch_size": 32, "lr": 0.001}, "settings the grader does not use: ['lr']"),
    ({"epochs": 9, "batch_size": 32, "learning_rate": 0.001}, "recipe['epochs'] must be an int from 1 to 3"),
    ({"epochs": True, "batch_size": 32, "learning_rate": 0.001}, "recipe['epochs'] must be an int"),
    ({"epochs": 2, "batch_size": 32, "learning_rate": 0}, "recipe['learning_rate'] must be a number above 0"),
    ({"epochs": 2, "batch_size": 32}, "the recipe needs 'learning_rate'"),
    ([("epochs", 2)], "the recipe must be a dict"),
])
def test_a_recipe_that_breaks_a_rule_is_refused_by_name(recipe, message):
    assert message in failure(grading.check_trained_model, lambda: _course_cnn(), recipe=recipe)


def test_a_network_that_breaks_a_rule_is_refused_before_any_training():
    from cnnlib import layers
    from cnnlib.model import Sequential
    from cnnlib.grading.training import CNNLIB_RECIPE

    dense = Sequential([layers.Flatten(), layers.Dense(10)], input_shape=(28, 28, 1))
    assert "has no Conv2D layer" in failure(grading.check_trained_model, lambda: dense, recipe=CNNLIB_RECIPE)
    five = Sequential([layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(5)], input_shape=(28, 28, 1))
    assert "expected (10,)" in failure(grading.check_trained_model, lambda: five, recipe=CNNLIB_RECIPE)
    wide = _course_cnn(filters=512)
    assert "more than the grader's budget" in failure(grading.check_trained_model, lambda: wide, recipe=CNNLIB_RECIPE)


def test_while_grading_the_notebook_leaves_the_measurement_to_the_grader(monkeypatch, capsys):
    from cnnlib.grading.core import DECIDED_BY_GRADER
    from cnnlib.grading.training import CNNLIB_RECIPE

    monkeypatch.setenv("CNN_COURSE_GRADING", "1")
    assert grading.check_trained_model(_course_cnn, CNNLIB_RECIPE) is None
    assert DECIDED_BY_GRADER in capsys.readouterr().out


def test_the_grader_gives_points_by_tier():
    from cnnlib.grading.training import TIERS, credit

    (full, top), (low, half) = TIERS["cnnlib"]
    assert credit(full, "cnnlib") == top == 1.0 and credit(low, "cnnlib") == half == 0.5
    assert credit(low - 0.001, "cnnlib") == 0.0 and credit(1.0, "cnnlib") == 1.0


# --- Assignment 4 -------------------------------------------------------------------------

A4 = "a4_architectures_and_visualization"


def a4_namespace(tf):
    """The a4 solution cells and the architecture specs of its set-up cells."""
    import nbformat

    namespace = {"np": np, "tf": tf}
    nb = nbformat.read(course.SOLUTIONS / A4 / f"{A4}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "architectures":
            exec(cell.source, namespace)
    for grade_id, code in course.solution_fill(A4).items():
        exec(code, namespace)
    return namespace


@pytest.fixture(scope="module")
def a4(tf):
    return a4_namespace(tf)


def test_layer_tables_match_keras_and_the_published_totals(a4, capsys):
    """The check's Keras build is the reference; its totals are the published ones (VGG-16 exactly)."""
    for name, layers, shape in [("LeNet-5", a4["LENET5"], (32, 32, 1)), ("AlexNet", a4["ALEXNET"], (227, 227, 3)),
                                ("VGG-16", a4["VGG16"], (224, 224, 3))]:
        grading.check_layer_table(a4["layer_table"], layers, shape, name)
    out = capsys.readouterr().out
    assert "138,357,544 parameters" in out          # Simonyan and Zisserman's VGG-16
    assert "62,378,344 parameters" in out           # single-tower AlexNet, "about 61 million"
    lenet = int(out.split("LeNet-5 agree with Keras (")[1].split(" ")[0].replace(",", ""))
    assert 55_000 < lenet < 65_000                  # "about 60,000" (the paper's C3 table and RBF layer differ)


def layer_table_with(a4, change):
    def layer_table(layers, input_shape):
        rows = a4["layer_table"](layers, input_shape)
        return [change(spec, shape, params) for spec, (shape, params) in zip(layers, rows)]
    return layer_table


@pytest.mark.parametrize("change, diagnosis", [
    (lambda spec, shape, p: (shape, p - spec[1] if spec[0] == "conv" else p), "the conv layer's bias is missing"),
    (lambda spec, shape, p: (shape, p + 1 if spec[0] == "maxpool" else p), "pooling and flattening have no parameters"),
])
def test_layer_table_mistakes_are_named(a4, change, diagnosis):
    message = failure(grading.check_layer_table, layer_table_with(a4, change), layers=a4["ALEXNET"],
                      input_shape=(227, 227, 3), network="AlexNet")
    assert diagnosis in message and "at layer" in message


def test_layer_table_shape_mistakes_are_named(a4):
    def ignoring(what):
        def layer_table(layers, input_shape):
            stripped = [(s[0], s[1], s[2], 1 if what == "stride" else s[3], 0 if what == "padding" else s[4])
                        if s[0] == "conv" else s for s in layers]
            return a4["layer_table"](stripped, input_shape)
        return layer_table

    assert "the padding is ignored" in failure(grading.check_layer_table, ignoring("padding"),
                                               layers=a4["VGG16"][:3], input_shape=(224, 224, 3))
    assert "the stride is ignored" in failure(grading.check_layer_table, ignoring("stride"),
                                              layers=a4["ALEXNET"][:2], input_shape=(227, 227, 3))


@pytest.mark.parametrize("suite", ["public", "hidden"])
def test_occlusion_solution_and_reference_pass(a4, suite):
    from cnnlib import viz

    grading.check_occlusion_map(a4["occlusion_map"], suite=suite)
    grading.check_occlusion_map(viz.occlusion_map, suite=suite, allow_reference=True)
    message = failure(grading.check_occlusion_map, viz.occlusion_map, suite=suite)
    assert "calls cnnlib.viz.occlusion_map from cnnlib" in message


def test_occlusion_cases_really_know_the_answer():
    """Each case's model ignores everything outside the top-left quadrant: patches there drop nothing."""
    from cnnlib import viz

    for case in visualization._occlusion_cases("hidden"):
        a = case.args
        heat = viz.occlusion_map(**a)
        h, w = a["image"].shape[:2]
        sh, sw = int_pair(a["stride"])
        rows, cols = np.arange(heat.shape[0]) * sh, np.arange(heat.shape[1]) * sw
        outside = (rows[:, None] >= h // 2) | (cols[None, :] >= w // 2)
        assert np.all(heat[outside] == 0) and np.any(heat[~outside] != 0)


@pytest.mark.parametrize("wrong, diagnosis", [
    (lambda ref: lambda predict_fn, image, label, patch_size, stride, fill=0.0:
        predict_fn(image[None])[0, label] - ref(predict_fn, image, label, patch_size, stride, fill),
     "the map holds p(label) of the occluded images"),
    (lambda ref: lambda predict_fn, image, label, patch_size, stride, fill=0.0:
        -ref(predict_fn, image, label, patch_size, stride, fill), "the drop has the wrong sign"),
    (lambda ref: lambda predict_fn, image, label, patch_size, stride, fill=0.0:
        ref(predict_fn, image, label, patch_size, 1, fill), "the stride is ignored"),
    (lambda ref: lambda predict_fn, image, label, patch_size, stride, fill=0.0:
        ref(predict_fn, image, label, patch_size, stride, 0.0), "filled with 0 whatever"),
])
def test_occlusion_mistakes_are_named(wrong, diagnosis):
    from cnnlib import viz

    assert diagnosis in failure(grading.check_occlusion_map, wrong(viz.occlusion_map), allow_reference=True)


@pytest.mark.parametrize("suite", ["public", "hidden"])
def test_saliency_solution_and_reference_pass(a4, suite):
    from cnnlib import viz

    grading.check_saliency_map(a4["saliency_map"], suite=suite)
    grading.check_saliency_map(viz.saliency_map, suite=suite, allow_reference=True)
    assert "calls cnnlib.viz.saliency_map from cnnlib" in failure(grading.check_saliency_map, viz.saliency_map)


def test_saliency_models_use_only_the_top_left_quadrant(tf):
    from cnnlib import viz

    rng = np.random.default_rng(0)
    for h, w, c in [(8, 8, 1), (10, 12, 3)]:
        model = visualization._quadrant_keras_model(h, w, c, seed=1)
        sal = viz.saliency_map(model, rng.random((h, w, c)), 1)
        outside = np.ones((h, w), bool)
        outside[:h // 2, :w // 2] = False
        assert np.all(sal[outside] == 0) and np.all(sal[:h // 2 - 1, :w // 2 - 1] > 0)


def test_saliency_mistakes_are_named(a4, tf):
    def gradient(model, image, label):
        x = tf.Variable(np.asarray(image, np.float32)[None])
        with tf.GradientTape() as tape:
            score = model(x)[0, label]
        return tape.gradient(score, x)[0].numpy()

    assert "the absolute value is missing" in failure(
        grading.check_saliency_map, lambda model, image, label: gradient(model, image, label).max(axis=-1))
    assert "the channels are summed" in failure(
        grading.check_saliency_map, lambda model, image, label: np.abs(gradient(model, image, label)).sum(axis=-1))
    assert "another class's score" in failure(
        grading.check_saliency_map,
        lambda model, image, label: np.abs(gradient(model, image, (label + 1) % 3)).max(axis=-1))


def test_assignment_3_states_the_graders_tiers_and_budget():
    """The numbers a3's text promises are the ones the grader uses."""
    from cnnlib.grading.training import BUDGET, TIERS

    nb = nbformat.read(Path(__file__).parents[1] / "solutions" / "a3_training_a_cnn" / "a3_training_a_cnn.ipynb",
                       as_version=4)
    text = " ".join(" ".join(cell.source.replace("*", "").split()) for cell in nb.cells
                    if cell.cell_type == "markdown")
    for library in ("cnnlib", "keras"):
        (full, _), (half, _) = TIERS[library]
        assert f"30 points from {full:.1%}" in text and f"15 from {half:.1%}" in text, library
        assert f"at most {BUDGET[library]['epochs']}" in text
        assert f"{BUDGET[library]['multiply_adds']:,} multiply-adds" in text
    assert "120 seconds" in text          # the time limit of a graded test cell


# --- the written contract: the public cases show every form of argument the hidden ones use ------
#
# A graded test cell runs its check's public cases, which the student runs too, and hidden ones. For
# a student whose function passes the public cell to fail only on unseen *values*, every argument
# form a hidden case uses (an int or a pair, None or an array, the rank of an array and which of its
# axes have length 1, the string of a mode, ...) must appear among the public cases. Each check is
# run here with spies that record the arguments of every call the check makes, in both suites.

def argument_form(value):
    """What a function must handle about a value, beyond the value itself."""
    if value is None:
        return "None"
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, np.ndarray):
        ones = tuple(axis for axis, size in enumerate(value.shape) if size == 1)
        return f"array of kind {value.dtype.kind}, rank {value.ndim}, axes of length 1: {ones}"
    if isinstance(value, (tuple, list)):
        if len(value) > 4:
            return f"{type(value).__name__} of {len(value)} items"
        return f"{type(value).__name__} of ({', '.join(argument_form(v) for v in value)})"
    if isinstance(value, dict):
        return "dict of {" + ", ".join(f"{k!r}: {argument_form(v)}" for k, v in sorted(value.items())) + "}"
    if hasattr(value, "layers"):
        return f"model {type(value).__name__}"
    if callable(value):
        return "function"
    return f"object {type(value).__name__}"


def uncovered_forms(public_calls, hidden_calls):
    """{argument: forms the hidden calls give it that no public call does}; {} when the contract holds."""
    uncovered = {}
    for name in {name for call in hidden_calls for name in call}:
        public = {call.get(name, "not passed") for call in public_calls}
        extra = {call.get(name, "not passed") for call in hidden_calls} - public
        if extra:
            uncovered[name] = extra
    return uncovered


def _a6_reference():
    def forward(params, x):
        out, layers = network._forward(params, x)
        return out, {**layers, "params": params}

    def backward(dscores, cache):
        return network._backward(dscores, cache["params"], cache)

    return {"forward": forward, "backward": backward, "train": network.reference_train}


def _conv_output_size(n, k, padding, stride, dilation):
    return shapes.conv_output_size(n, k, padding=padding, stride=stride, dilation=dilation)


def contract_table():
    """(check, {its function arguments: the reference to spy on}) for every check with a hidden suite."""
    from cnnlib import viz

    a6 = _a6_reference()
    return [
        (grading.check_zero_pad, {"zero_pad": ops.zero_pad}),
        (grading.check_conv_output_size, {"conv_output_size": _conv_output_size}),
        (grading.check_conv_single_step, {"conv_single_step": ops.conv_single_step}),
        (grading.check_conv2d, {"conv2d": ops.conv2d}),
        (grading.check_pool2d, {"pool2d": ops.pool2d}),
        (grading.check_pool2d_backward, {"pool2d_backward": backprop.pool2d_backward}),
        (grading.check_relu_backward, {"relu_backward": backprop.relu_backward}),
        (grading.check_conv2d_backward, {"conv2d_backward": backprop.conv2d_backward}),
        (grading.check_softmax_cross_entropy, {"softmax_cross_entropy": backprop.softmax_cross_entropy}),
        (grading.check_dense_backward, {"dense_backward": backprop.dense_backward}),
        (grading.check_occlusion_map, {"occlusion_map": viz.occlusion_map}),
        (grading.check_saliency_map, {"saliency_map": viz.saliency_map}),
        (grading.check_batch_norm_training, {"batch_norm": ops.batch_norm}),
        (grading.check_batch_norm_inference, {"batch_norm": ops.batch_norm}),
        (grading.check_batch_norm_backward, {"batch_norm_backward": backprop.batch_norm_backward}),
        (grading.check_residual_block, {"residual_block": blocks.residual_block}),
        (grading.check_residual_block_backward, {"residual_block_backward": blocks.residual_block_backward}),
        (grading.check_network_forward, {"forward": a6["forward"]}),
        (grading.check_network_backward, {"forward": a6["forward"], "backward": a6["backward"]}),
        (grading.check_train, {"train": a6["train"]}),
    ]


def recorded_calls(check, references, suite):
    """{function argument: [the forms of each call's arguments]} for one run of ``check``."""
    calls = {name: [] for name in references}

    def spy(name, reference):
        def function(**kwargs):
            calls[name].append({key: argument_form(value) for key, value in kwargs.items()})
            return reference(**kwargs)
        return function

    check(**{name: spy(name, reference) for name, reference in references.items()}, suite=suite,
          allow_reference=True)
    return calls


def test_every_check_with_hidden_cases_is_in_the_contract_table():
    import inspect

    with_suites = {name for name in grading.__all__ if name.startswith("check_")
                   and "suite" in inspect.signature(getattr(grading, name)).parameters}
    assert with_suites == {check.__name__ for check, _ in contract_table()}
    assert len(with_suites) == 20


@pytest.mark.parametrize("check, references", contract_table(), ids=[c.__name__ for c, _ in contract_table()])
def test_hidden_cases_use_only_argument_forms_the_public_cases_show(check, references, tf, capsys):
    public = recorded_calls(check, references, "public")
    hidden = recorded_calls(check, references, "hidden")
    for name in references:
        assert public[name] and len(hidden[name]) > len(public[name]), \
            f"{check.__name__}: {name} was called {len(public[name])} times in public, {len(hidden[name])} in hidden"
        assert uncovered_forms(public[name], hidden[name]) == {}, f"{check.__name__}, {name}"


def test_the_form_comparison_tells_the_forms_apart():
    """The contract test cannot pass by seeing every value as the same form."""
    distinct = [1, 1.0, (1, 1), None, True, "max", "avg", np.zeros((2, 3)), np.zeros((1, 3)), np.zeros((2, 3, 1)),
                np.zeros(3, dtype=int), [np.zeros(2)], {"w": np.zeros(2)}, len]
    assert len({argument_form(v) for v in distinct}) == len(distinct)
    assert argument_form(3) == argument_form(np.int64(7)) and argument_form((2, 3)) == argument_form((1, 4))
    assert argument_form(np.ones((4, 5))) == argument_form(np.zeros((2, 9)))
    # the issue's example: a pair pad in the hidden cases only
    public = [{"x": argument_form(np.zeros((2, 3, 4, 1))), "pad": argument_form(1)}]
    hidden = public + [{"x": argument_form(np.zeros((2, 5, 4, 1))), "pad": argument_form((1, 2))}]
    assert uncovered_forms(public, hidden) == {"pad": {argument_form((1, 2))}}
    # a batch of one in the hidden cases only
    hidden = public + [{"x": argument_form(np.zeros((1, 3, 4, 1))), "pad": argument_form(2)}]
    assert set(uncovered_forms(public, hidden)) == {"x"}


def test_hidden_test_lines_repeat_the_public_call_with_the_hidden_suite():
    """A graded cell's hidden part is its public call with suite="hidden": the same check, the same functions."""
    import re

    for name in course.assignment_names():
        nb = nbformat.read(course.SOLUTIONS / name / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            if not cell.metadata.get("nbgrader", {}).get("grade"):
                continue
            hidden = re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S)
            public = cell.source.split("### BEGIN HIDDEN TESTS")[0].strip().splitlines()
            for block in hidden:
                lines = block.strip().splitlines()
                assert [line.replace(', suite="hidden")', ")") for line in lines] == public, (name, lines)


# --- diagnoses for the habits students bring (issue 19, item 2) -----------------------------------

def test_renamed_parameters_are_named():
    def zero_pad(X, pad):
        return ops.zero_pad(X, pad)

    message = failure(grading.check_zero_pad, zero_pad, allow_reference=True)
    assert "has no parameter named 'x'" in message and "(x, pad)" in message

    def with_extra(x, pad, value):
        return ops.zero_pad(x, pad)

    assert "requires 'value', which the checks do not pass" in failure(grading.check_zero_pad, with_extra,
                                                                       allow_reference=True)

    def wrong_keyword_inside(x, pad):
        return np.pad(x, 1, mode="constant", fill=0)      # a TypeError of the student's own making

    assert "diagnosis" not in failure(grading.check_zero_pad, wrong_keyword_inside)


def test_a_bias_of_shape_1_1_1_is_named():
    assert "the result has the bias's shape (1, 1, 1) instead of being one number" in failure(
        grading.check_conv_single_step, lambda a_slice, w, b: np.sum(a_slice * w) + b)
    assert "float(b) (or int(b)) refuses an array of shape (1, 1, 1)" in failure(
        grading.check_conv_single_step, lambda a_slice, w, b: np.sum(a_slice * w) + float(b))
    assert "b is a NumPy scalar in this case (conv2d passes b[f])" in failure(
        grading.check_conv_single_step, lambda a_slice, w, b: np.sum(a_slice * w) + b[0, 0, 0])


def test_conv2d_without_a_bias_guard_is_told_b_may_be_none():
    def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
        return ops.conv2d(x, w, None, stride, padding, dilation) + b[None, None, None, :]

    assert "b is None in this case" in failure(grading.check_conv2d, conv2d, allow_reference=True)


def test_dilation_mistakes_are_named():
    def conv_with(change):
        def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
            return ops.conv2d(x, w, b, stride, padding, change(int_pair(dilation)))
        return conv2d

    for change, diagnosis in [(lambda d: 1, "the dilation is ignored"),
                              (lambda d: (d[0], 1), "the dilation is applied to the rows only"),
                              (lambda d: (d[1], d[0]), "the vertical and horizontal dilations are swapped")]:
        assert diagnosis in failure(grading.check_conv2d, conv_with(change), allow_reference=True)


def test_an_epsilon_inside_the_log_and_the_log_of_zero_are_named():
    def loss_with(log_of):
        def softmax_cross_entropy(logits, labels):
            rows = np.arange(len(logits))
            shifted = logits - logits.max(axis=1, keepdims=True)
            probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
            with np.errstate(divide="ignore"):
                loss = -log_of(probs[rows, labels]).mean()
            dlogits = probs.copy()
            dlogits[rows, labels] -= 1
            return loss, dlogits / len(logits)
        return softmax_cross_entropy

    for suite in ("public", "hidden"):
        for guard in (lambda p: np.log(p + 1e-12), lambda p: np.log(np.maximum(p, 1e-9)),
                      lambda p: np.log(np.clip(p, 1e-7, 1 - 1e-7))):
            assert "the loss takes the log of p plus a small epsilon" in failure(
                grading.check_softmax_cross_entropy, loss_with(guard), suite=suite)
        assert "log(0): with large logits" in failure(grading.check_softmax_cross_entropy, loss_with(np.log),
                                                      suite=suite)


def test_a_one_axis_shape_given_as_an_int_is_named(a4):
    def layer_table(layers, input_shape):
        rows = a4["layer_table"](layers, input_shape)
        return [(shape[0] if len(shape) == 1 else shape, params) for shape, params in rows]

    message = failure(grading.check_layer_table, layer_table, layers=a4["LENET5"], input_shape=(32, 32, 1))
    assert "gives the output shape as the int 120" in message and "write (120,)" in message


def test_a_keras_cnn_inside_a_sub_model_counts_as_a_cnn(tf):
    k = tf.keras.layers
    features = tf.keras.Sequential([k.Conv2D(2, 3), k.MaxPooling2D(2)], name="features")
    model = tf.keras.Sequential([tf.keras.Input((28, 28, 1)), features, k.Flatten(), k.Dense(10)])
    assert grading.check_model_accuracy(model, minimum=0.0, library="keras") is None


# --- Assignment 6: the network from the student's own layers ---------------------------------------

A6 = "a6_network_from_scratch"


def a6_functions(changes=()):
    """Assignment 6's solution cells (the layers, forward, backward, train), text replacements applied."""
    namespace = {"np": np}
    for code in course.solution_fill(A6).values():
        for old, new in changes:
            code = code.replace(old, new)
        exec(code, namespace)
    sources = "".join(course.solution_fill(A6).values())
    assert all(old in sources for old, _ in changes), "the a6 solution no longer contains a replaced text"
    return namespace


@pytest.fixture(scope="module")
def a6():
    return a6_functions()


class LocalRemote(core.Remote):
    """A function the checks treat as the grader treats a student's kernel function (called through invoke)."""

    def __init__(self, fn):
        self.fn = fn

    def invoke(self, args, name, allow_reference, forbid):
        return core.invoke(self.fn, args, name, allow_reference, forbid)


@pytest.mark.parametrize("suite", ["public", "hidden"])
def test_a6_solution_passes_every_check(a6, suite, capsys):
    grading.check_network_forward(a6["forward"], suite=suite)
    grading.check_network_backward(a6["forward"], a6["backward"], suite=suite)
    grading.check_train(a6["train"], suite=suite)
    out = capsys.readouterr().out
    assert "backward uses the cache it is given" in out and "network gradient check" in out
    assert "train: all" in out


@pytest.mark.parametrize("changes, diagnosis", [
    ([("    return scores, (x,", "    scores = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)\n"
                                 "    return scores, (x,")], "forward returns probabilities"),
    ([("    f = q.reshape(len(x), -1)\n    scores", "    f = q.transpose(0, 3, 1, 2).reshape(len(x), -1)\n    scores")],
     "the flatten takes the values in another order"),
    ([("    h = relu(a)\n    q = pool2d(h, 2)\n    f = q", "    h = a\n    q = pool2d(h, 2)\n    f = q")],
     "the ReLU after the convolution is missing"),
    ([('    a = conv2d(x, params["w1"], params["b1"])\n    h', '    a = conv2d(x, params["w1"])\n    h')],
     "the convolution's bias b1 is missing"),
])
def test_a6_forward_mistakes_are_named(changes, diagnosis):
    ns = a6_functions(changes)
    assert diagnosis in failure(grading.check_network_forward, ns["forward"])


@pytest.mark.parametrize("changes, diagnosis", [
    ([("    dq = df.reshape(q.shape)", "    dq = df.reshape(q.shape, order='F')")],
     "the flatten's backward puts the gradient back in another order"),
    ([("    da = relu_backward(dh, a)", "    da = dh")], "the gradient is not masked by the ReLU"),
    ([("    dh = pool2d_backward(dq, h, 2)", "    dh = pool2d_backward(dq, h, 2, mode='avg')")],
     "the gradient does not go back through max pooling"),
    ([("    dq = df.reshape(q.shape)", "    dq = df.reshape(a.shape)")], "a reshape in backward has the wrong target"),
])
def test_a6_backward_mistakes_are_named(changes, diagnosis):
    ns = a6_functions(changes)
    assert diagnosis in failure(grading.check_network_backward, ns["forward"], backward=ns["backward"])


def test_a6_backward_must_use_the_cache_it_is_given(a6):
    latest = {}

    def forward(params, x):
        scores, cache = a6["forward"](params, x)
        latest["cache"] = cache
        return scores, cache

    def backward(dscores, cache):
        return a6["backward"](dscores, latest["cache"])

    assert "backward used the arrays of the latest forward call" in failure(grading.check_network_backward,
                                                                            forward, backward=backward)


def test_a6_gradient_check_catches_what_the_cases_miss(a6):
    def backward(dscores, cache):
        grads = a6["backward"](dscores, cache)
        if len(dscores) == 2:                  # only the gradient check's batch
            grads["w2"] = grads["w2"] * 1.01
        return grads

    assert "network gradient check" in failure(grading.check_network_backward, a6["forward"], backward=backward)


@pytest.mark.parametrize("mistake", sorted(network.TRAINING_MISTAKES))
def test_a6_training_mistakes_are_named(mistake):
    def train(params, x, y, epochs, batch_size, learning_rate, seed):
        return network.reference_train(params, x, y, epochs, batch_size, learning_rate, seed, mistake=mistake)

    message = failure(grading.check_train, train, allow_reference=True)
    assert network.TRAINING_MISTAKES[mistake] in message


def test_a6_overfitting_needs_every_one_of_the_50_digits(a6, capsys):
    grading.check_overfit(a6["train"], {"epochs": 10, "batch_size": 10, "learning_rate": 0.5})
    assert "all 50 digits right" in capsys.readouterr().out
    assert "of the 50 digits are right, not all of them" in failure(
        grading.check_overfit, a6["train"], recipe={"epochs": 1, "batch_size": 10, "learning_rate": 0.1})
    assert "recipe['epochs'] must be an int from 1 to 20" in failure(
        grading.check_overfit, a6["train"], recipe={"epochs": 50, "batch_size": 10, "learning_rate": 0.1})
    assert "recipe['batch_size'] must be an int from 5 to 100" in failure(
        grading.check_network_accuracy, a6["train"], recipe={"epochs": 1, "batch_size": 1, "learning_rate": 0.1})


def test_a6_grader_counts_the_lower_of_the_students_and_the_specified_training(a6, capsys):
    """A train that learns from other digits (here the test digits themselves) gains nothing."""
    recipe = {"epochs": 1, "batch_size": 10, "learning_rate": 0.3}
    _, _, (x_test, y_test) = network._splits()

    def peeking(params, x, y, epochs, batch_size, learning_rate, seed):
        return a6["train"](params, x_test, y_test, 2, batch_size, learning_rate, seed)

    specified = network.accuracy(network.reference_train(network.init_params(0), network._splits()[0][0][:1000],
                                                         network._splits()[0][1][:1000], **recipe, seed=0)[0],
                                 x_test, y_test)
    try:
        grading.check_network_accuracy(LocalRemote(peeking), recipe)
    except core.PartialCredit:
        pass
    out = capsys.readouterr().out
    assert f"the lower, {specified:.1%}, counts" in out and "your train does not do exactly the specified" in out


def test_a6_grader_scores_by_tier_and_the_notebook_leaves_it_to_the_grader(a6, monkeypatch, capsys):
    grading.check_network_accuracy(LocalRemote(a6["train"]), {"epochs": 2, "batch_size": 10, "learning_rate": 0.3})
    assert "100% of the points" in capsys.readouterr().out
    with pytest.raises(core.PartialCredit) as info:
        grading.check_network_accuracy(LocalRemote(a6["train"]), {"epochs": 1, "batch_size": 20, "learning_rate": 0.5})
    assert info.value.fraction == 0.5
    assert network.credit(network.TIERS[-1][0] - 0.001) == 0.0
    monkeypatch.setenv("CNN_COURSE_GRADING", "1")
    for check in (grading.check_overfit, grading.check_network_accuracy):
        assert check(a6["train"], {"epochs": 1, "batch_size": 10, "learning_rate": 0.3}) is None
        assert core.DECIDED_BY_GRADER in capsys.readouterr().out


def test_assignment_6_states_the_graders_tiers_and_budget():
    """The numbers a6's text promises are the ones the grader uses."""
    nb = nbformat.read(course.SOLUTIONS / A6 / f"{A6}.ipynb", as_version=4)
    text = " ".join(" ".join(cell.source.replace("*", "").replace("`", "").split()) for cell in nb.cells
                    if cell.cell_type == "markdown")
    (full, top), (half, share) = network.TIERS
    assert f"35 from {full:.0%}" in text and f"{35 * share:g} from {half:.0%}" in text
    assert f'"epochs" (1 to {network.BUDGET["overfit"]["epochs"]})' in text
    assert f'"batch_size" ({network.MIN_BATCH} to {network.BUDGET["overfit"]["batch_size"]})' in text
    assert f'"batch_size" {network.MIN_BATCH} to {network.BUDGET["accuracy"]["batch_size"]}' in text
    assert f"first {network.TRAIN_EXAMPLES:,} training digits" in text
    assert f"first {network.OVERFIT_EXAMPLES} training digits" in text


def test_a6_train_may_update_the_given_arrays_in_place(capsys):
    """Students often write params[name] -= ...; the check compares with copies, so that costs nothing."""
    ns = a6_functions([("            params = {name: params[name] - learning_rate * grads[name] for name in params}",
                        "            for name in params:\n"
                        "                params[name] -= learning_rate * grads[name]")])
    grading.check_train(ns["train"])
    assert "train: all" in capsys.readouterr().out


def _given_and_answers(name, cells):
    """A namespace from the notebook's locked cells and its solution cells (``cells`` replacing some), in order.

    A cell that raises is skipped, as in a notebook that runs on after an error."""
    import contextlib
    import io

    import matplotlib

    matplotlib.use("Agg")
    nb = nbformat.read(course.SOLUTIONS / name / f"{name}.ipynb", as_version=4)
    fill = {**course.solution_fill(name), **cells}
    namespace = {"__name__": "__main__"}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade") or not (meta.get("locked") or meta.get("solution")):
            continue
        source = fill[meta["grade_id"]] if meta.get("solution") else cell.source
        with contextlib.suppress(Exception), contextlib.redirect_stdout(io.StringIO()):
            exec(compile(source, meta["grade_id"], "exec"), namespace)
    return nb, namespace


def _passes(code, namespace):
    import contextlib
    import io

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(code, namespace)
    except Exception:  # noqa: BLE001 - a failed check, or a missing answer
        return False
    return True


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::RuntimeWarning")     # the fixtures' overflows and logs of 0
@pytest.mark.parametrize("name", course.assignment_names())
def test_a_wrong_answer_that_passes_a_public_cell_passes_its_hidden_cases_too(name, tf):
    """Every fixture (a realistic wrong or right answer) and the solution: no test cell passes its public
    part and fails its hidden part, so a student who passes the public cell is never surprised by a form."""
    import re

    fixtures = [course.read_fixture(p) for p in sorted((Path(__file__).parent / "fixtures" / name).glob("*.py"))]
    surprises, compared = [], 0
    for fixture in [course.Fixture("solution", "")] + fixtures:
        nb, namespace = _given_and_answers(name, fixture.cells)
        for cell in nb.cells:
            hidden = re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S)
            if not cell.metadata.get("nbgrader", {}).get("grade") or not hidden:
                continue
            public = cell.source.split("### BEGIN HIDDEN TESTS")[0]
            compared += 1
            if _passes(public, namespace) and not _passes(hidden[0], namespace):
                surprises.append(f"{fixture.name}: {cell.metadata['nbgrader']['grade_id']}")
    assert compared >= len(fixtures) + 1 and surprises == []


def test_no_solution_notebook_holds_a_placeholder():
    """Numbers still to be measured are written [[LIKE_THIS]] while a text is drafted; none may ship."""
    import re

    for name in course.assignment_names():
        source = (course.SOLUTIONS / name / f"{name}.ipynb").read_text()
        assert not re.search(r"\[\[[A-Z_]+\]\]", source), name

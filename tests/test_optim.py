"""cnnlib.optim against Keras's optimizers on the same gradients."""

import numpy as np
import pytest

from cnnlib.optim import SGD, Adam


def run_both(tf, ours, theirs, steps=5):
    rng = np.random.default_rng(0)
    start = [rng.standard_normal((3, 4)), rng.standard_normal(4)]
    grads = [[rng.standard_normal(p.shape) for p in start] for _ in range(steps)]
    params = [p.copy() for p in start]
    variables = [tf.Variable(p.copy()) for p in start]
    for g in grads:
        ours.step(params, g)
        theirs.apply_gradients(zip([tf.constant(gi) for gi in g], variables))
    return params, [v.numpy() for v in variables]


# Keras keeps its learning rate as a float32 variable: rates that float32 holds
# exactly (powers of 2) let the two agree to float64 precision.
@pytest.mark.parametrize("momentum", [0.0, 0.875])
def test_sgd_matches_keras(tf, momentum):
    ours, theirs = run_both(tf, SGD(0.125, momentum), tf.keras.optimizers.SGD(0.125, momentum=momentum))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_adam_matches_keras(tf):
    # Keras rounds beta_2 to float32 inside its update (0.999 -> 0.99900001), which
    # moves its steps by about 1e-5 of their size; hence the looser tolerance here
    # and the exact check by hand below.
    ours, theirs = run_both(tf, Adam(2**-7), tf.keras.optimizers.Adam(2**-7), steps=8)
    for a, b, p0 in zip(ours, theirs, run_both(tf, SGD(2**-7), tf.keras.optimizers.SGD(2**-7), 0)[0]):
        np.testing.assert_allclose(a - p0, b - p0, rtol=1e-4, atol=1e-9)


def test_adam_first_step_by_hand():
    # After one step m = (1 - b1) g and v = (1 - b2) g^2, so the update is
    # lr * sqrt(1 - b2) g / (sqrt(1 - b2) |g| + eps): about lr * sign(g).
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    g = np.array([0.3, -2.0, 1e-9])
    p = np.zeros(3)
    Adam(lr, b1, b2, eps).step([p], [g])
    expected = -lr * np.sqrt(1 - b2) * g / (np.sqrt(1 - b2) * np.abs(g) + eps)
    np.testing.assert_allclose(p, expected, rtol=1e-14)


def test_plain_sgd_by_hand():
    p = np.array([1.0, 2.0])
    SGD(0.5).step([p], [np.array([2.0, -2.0])])
    np.testing.assert_array_equal(p, [0.0, 3.0])


def test_float32_parameters_stay_float32():
    p = np.ones(3, dtype=np.float32)
    for opt in (SGD(0.1, 0.9), Adam()):
        opt.step([p], [np.ones(3, dtype=np.float32)])
        assert p.dtype == np.float32


@pytest.mark.parametrize("call, message", [
    (lambda: SGD(0), "lr must be a positive number"),
    (lambda: SGD(0.1, momentum=1.0), r"momentum must be a number in \[0, 1\)"),
    (lambda: Adam(beta_1=-0.1), "beta_1"),
    (lambda: SGD().step([np.zeros(2)], []), "got 1 parameters but 0 gradients"),
    (lambda: SGD().step([np.zeros(2)], [np.zeros(3)]), r"gradient 0 has shape \(3,\)"),
])
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()

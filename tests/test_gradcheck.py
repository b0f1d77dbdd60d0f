"""cnnlib.gradcheck on functions whose gradients are known in closed form, and on planted bugs."""

import numpy as np
import pytest

from cnnlib import backprop, ops
from cnnlib.gradcheck import gradient_check, numerical_gradient, relative_error


def test_numerical_gradient_of_known_functions():
    x = np.random.default_rng(0).standard_normal((3, 4))
    np.testing.assert_allclose(numerical_gradient(lambda z: np.sum(z ** 3), x), 3 * x ** 2, rtol=1e-7)
    a = np.random.default_rng(1).standard_normal((4, 2))
    dout = np.random.default_rng(2).standard_normal((3, 2))
    # d/dx sum((x @ a) * dout) = dout @ a.T
    np.testing.assert_allclose(numerical_gradient(lambda z: z @ a, x, dout=dout), dout @ a.T, rtol=1e-7)


def test_numerical_gradient_leaves_x_as_it_was():
    x = np.random.default_rng(3).standard_normal((2, 3))
    before = x.copy()
    numerical_gradient(lambda z: np.sum(np.sin(z)), x)
    np.testing.assert_array_equal(x, before)


def test_relative_error():
    assert relative_error(np.ones(3), np.ones(3)) == 0
    assert relative_error(1.0, -1.0) == 1
    assert relative_error(np.array([1.0, 100.0]), np.array([1.0, 101.0])) == pytest.approx(1 / 201)
    assert relative_error(1e-12, 2e-12) < 1e-3   # both near 0: the floor keeps this small


def test_gradient_check_passes_a_correct_backward_and_keeps_inputs():
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 5, 5, 2)), rng.standard_normal((3, 3, 2, 3))
    x0 = x.copy()
    result = gradient_check(lambda x, w: ops.conv2d(x, w, padding="same"), [x, w],
                            lambda d, x, w: backprop.conv2d_backward(d, x, w, padding="same")[:2],
                            names=["x", "w"])
    assert result.passed() and result.max_error < 1e-7
    assert set(result.errors) == {"x", "w"} and result.checked == {"x": x.size, "w": w.size}
    np.testing.assert_array_equal(x, x0)
    assert "worst relative error" in str(result)


def test_gradient_check_finds_a_planted_bug_where_it_is():
    x = np.random.default_rng(5).standard_normal((1, 4, 4, 1))

    def wrong_backward(dout, x):
        dx = backprop.relu_backward(dout, x)
        dx[0, 2, 1, 0] += 0.5           # one wrong entry
        return dx

    result = gradient_check(ops.relu, [x], wrong_backward)
    assert not result.passed(1e-3)
    assert result.input == "x0" and result.index == (0, 2, 1, 0)
    assert result.analytic - result.numeric == pytest.approx(0.5, abs=1e-6)


def test_gradient_check_catches_a_transposed_kernel_gradient():
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((1, 5, 5, 1)), rng.standard_normal((3, 3, 1, 1))

    def flipped(dout, x, w):
        dx, dw, _ = backprop.conv2d_backward(dout, x, w)
        return dx, dw[::-1, ::-1]        # a classic mistake: convolution instead of correlation

    result = gradient_check(lambda x, w: ops.conv2d(x, w), [x, w], flipped, names=["x", "w"])
    assert result.input == "w" and result.max_error > 0.01


def test_gradient_check_samples_entries_when_asked():
    x = np.random.default_rng(7).standard_normal((4, 10, 10, 3))
    result = gradient_check(ops.relu, [x], backprop.relu_backward, max_entries=25)
    assert result.checked == {"x0": 25} and result.passed()


def test_gradient_check_errors():
    x = np.zeros((2, 2))
    with pytest.raises(ValueError, match="the gradient for x0 has shape"):
        gradient_check(ops.relu, [x], lambda d, x: np.zeros(3))
    with pytest.raises(TypeError, match="floating-point"):
        gradient_check(ops.relu, [np.zeros((2, 2), int)], backprop.relu_backward)
    with pytest.raises(ValueError, match="pass dout"):
        numerical_gradient(lambda z: z, x)
    with pytest.raises(TypeError, match="floating-point NumPy array"):
        numerical_gradient(np.sum, [1.0, 2.0])

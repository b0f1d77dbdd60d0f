"""Gradient checking: compare a backward pass with central differences.

A backward function is right when its gradients agree with the slope that
nudging each input by a tiny ``eps`` produces:

    dL/dx[i]  ~  (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)

The error of this estimate shrinks like eps**2, so in float64 a correct
gradient usually agrees to a relative error below 1e-7, and a wrong one is off
by something of order 1. Check in float64: float32's rounding swamps the
difference quotient.
"""

from dataclasses import dataclass, field

import numpy as np

__all__ = ["numerical_gradient", "relative_error", "gradient_check", "GradientCheck"]


def numerical_gradient(f, x, eps=1e-6, dout=None):
    """Central-difference estimate of the gradient of ``f`` at ``x``.

    Arguments:
        f: a function of one array. If it returns a scalar L, the result is
            dL/dx. If it returns an array, give ``dout`` of the same shape and
            the result is the gradient of ``sum(f(x) * dout)``, i.e. what a
            backward function receiving ``dout`` should return.
        x: a floating-point array. It is nudged in place one entry at a time
            and restored exactly afterwards.
        eps: the step.
        dout: the upstream gradient when f returns an array.

    Returns:
        An array of x's shape and dtype.

    Raises:
        TypeError: x is not a floating-point NumPy array (it must be mutable in place).
        ValueError: f returns an array and dout is missing or of another shape.
    """
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise TypeError(f"x must be a floating-point NumPy array, got "
                        f"{type(x).__name__} {getattr(x, 'dtype', '')}".rstrip())

    def value():
        out = np.array(f(x), dtype=np.float64)  # a copy: f may return a view of x
        if dout is None and out.size != 1:
            raise ValueError(f"f returned an array of shape {out.shape}; "
                             f"pass dout (same shape) to check a backward function")
        if dout is not None and out.shape != np.shape(dout):
            raise ValueError(f"dout has shape {np.shape(dout)} but f returned shape {out.shape}")
        return out

    weights = 1.0 if dout is None else np.asarray(dout, dtype=np.float64)
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat, x):
        raise TypeError("x must be contiguous so that it can be nudged in place")
    for i in range(flat.size):
        gflat[i] = _difference_quotient(value, flat, i, eps, weights)
    return grad


def _difference_quotient(value, flat, i, eps, weights):
    """(L(x + eps e_i) - L(x - eps e_i)) / 2eps with L = sum(value() * weights).

    The two outputs are subtracted before they are weighted and summed, so
    outputs that the nudge does not change contribute exactly 0 instead of
    the rounding error of two large, nearly equal sums.
    """
    saved = flat[i]
    flat[i] = saved + eps
    up = value()
    flat[i] = saved - eps
    down = value()
    flat[i] = saved
    return float(np.sum((up - down) * weights)) / (2 * eps)


def relative_error(a, b, floor=1e-8):
    """Largest elementwise relative difference ``|a - b| / max(|a| + |b|, floor)``.

    Arguments:
        a, b: arrays of the same shape (or scalars).
        floor: the smallest denominator, so that two tiny numbers near 0 do not
            count as far apart.

    Returns:
        A float in [0, 1] (0 when a == b; 1 when they have opposite signs or
        one is 0 and the other is not).

    Raises:
        ValueError: a and b differ in shape.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(_elementwise_error(a, b, floor)))


def _elementwise_error(a, b, floor=1e-8):
    return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)


@dataclass
class GradientCheck:
    """The outcome of :func:`gradient_check`.

    Attributes:
        max_error: the worst relative error over every checked entry.
        input: name of the input where it occurred.
        index: the entry's index in that input.
        analytic, numeric: the two gradient values at that entry.
        errors: worst relative error for each input, by name.
        checked: how many entries were compared for each input.
    """

    max_error: float
    input: str
    index: tuple
    analytic: float
    numeric: float
    errors: dict = field(default_factory=dict)
    checked: dict = field(default_factory=dict)

    def passed(self, tol=1e-6):
        """True when every checked entry agrees to a relative error of at most tol."""
        return self.max_error <= tol

    def __str__(self):
        per_input = ", ".join(f"{name}: {err:.2e}" for name, err in self.errors.items())
        return (f"worst relative error {self.max_error:.2e} at {self.input}{list(self.index)} "
                f"(analytic {self.analytic:.6g}, numeric {self.numeric:.6g}); per input: {per_input}")


def gradient_check(fn, inputs, backward, dout=None, names=None, eps=1e-6, max_entries=None,
                   seed=0):
    """Check a backward function against central differences, input by input.

    Arguments:
        fn: the forward function, ``fn(*inputs) -> array``.
        inputs: list of floating-point arrays (use float64), the arguments of fn.
        backward: ``backward(dout, *inputs)`` returning the gradient with
            respect to each input, as a tuple in the order of ``inputs`` (a
            single array when there is one input). It may return fewer
            gradients than there are inputs (for example none for a bias);
            only the ones returned are checked.
        dout: upstream gradient, fn's output shape; random normal (seeded) when None.
        names: a name for each input, for the report (default x0, x1, ...).
        eps: the central-difference step.
        max_entries: compare at most this many randomly chosen entries per
            input (all when None); the numerical gradient costs two calls of
            fn per entry.
        seed: seed for dout and for choosing entries.

    Returns:
        A :class:`GradientCheck` naming the worst entry.

    Raises:
        ValueError: backward returns gradients whose shapes do not match the inputs.
        TypeError: an input is not a floating-point array.
    """
    rng = np.random.default_rng(seed)
    inputs = [np.array(x, copy=True) for x in inputs]   # never nudge the caller's arrays
    for i, x in enumerate(inputs):
        if x.dtype.kind != "f":
            raise TypeError(f"inputs[{i}] must be a floating-point array, got dtype {x.dtype}")
    names = list(names) if names is not None else [f"x{i}" for i in range(len(inputs))]
    if len(names) != len(inputs):
        raise ValueError(f"got {len(names)} names for {len(inputs)} inputs")
    out = np.asarray(fn(*inputs))
    if dout is None:
        dout = rng.standard_normal(out.shape)
    dout = np.asarray(dout, dtype=np.float64)
    if dout.shape != out.shape:
        raise ValueError(f"dout has shape {dout.shape} but fn returned shape {out.shape}")
    def value():
        return np.array(fn(*inputs), dtype=np.float64)  # a copy: fn may return a view

    grads = backward(dout.astype(out.dtype) if out.dtype.kind == "f" else dout, *inputs)
    if isinstance(grads, np.ndarray) or np.isscalar(grads):
        grads = (grads,)
    grads = list(grads)
    if len(grads) > len(inputs):
        raise ValueError(f"backward returned {len(grads)} gradients for {len(inputs)} inputs")

    worst = None
    errors, checked = {}, {}
    for k, (name, x, g) in enumerate(zip(names, inputs, grads)):
        g = np.asarray(g, dtype=np.float64)
        if g.shape != x.shape:
            raise ValueError(f"the gradient for {name} has shape {g.shape} but {name} has shape {x.shape}")
        positions = np.arange(x.size)
        if max_entries is not None and x.size > max_entries:
            positions = np.sort(rng.choice(x.size, size=max_entries, replace=False))
        flat = x.reshape(-1)
        numeric = np.array([_difference_quotient(value, flat, pos, eps, dout) for pos in positions])
        analytic = g.reshape(-1)[positions]
        errs = _elementwise_error(analytic, numeric)
        errors[name], checked[name] = float(errs.max(initial=0.0)), len(positions)
        if len(errs) and (worst is None or errs.max() > worst.max_error):
            m = int(np.argmax(errs))
            worst = GradientCheck(float(errs[m]), name,
                                  tuple(int(i) for i in np.unravel_index(positions[m], x.shape)),
                                  float(analytic[m]), float(numeric[m]))
    if worst is None:
        raise ValueError("backward returned no gradients to check")
    worst.errors, worst.checked = errors, checked
    return worst

"""Optimizers: turn gradients into weight updates.

An optimizer's ``step(params, grads)`` updates each array in ``params`` in
place from the gradient at the same position in ``grads``. It keeps its state
(velocities, moment estimates) by position, so pass the same parameters in the
same order every step, as :class:`cnnlib.model.Sequential` does.
"""

import numpy as np

__all__ = ["SGD", "Adam"]


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _fraction(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


class _Optimizer:
    def __init__(self, lr):
        self.lr = _positive("lr", lr)
        self.iterations = 0
        self._slots = None

    def step(self, params, grads):
        """Update every array in ``params`` in place using the matching gradient.

        Raises:
            ValueError: different numbers of parameters and gradients, or a
                gradient whose shape differs from its parameter's.
        """
        params, grads = list(params), list(grads)
        if len(params) != len(grads):
            raise ValueError(f"got {len(params)} parameters but {len(grads)} gradients")
        for i, (p, g) in enumerate(zip(params, grads)):
            if np.shape(g) != p.shape:
                raise ValueError(f"gradient {i} has shape {np.shape(g)} but its parameter has {p.shape}")
        if self._slots is None or [s[0].shape for s in self._slots] != [p.shape for p in params]:
            self._slots = [self._new_slot(p) for p in params]
        self.iterations += 1
        for p, g, slot in zip(params, grads, self._slots):
            self._update(p, np.asarray(g, dtype=p.dtype), slot)

    def _new_slot(self, p):
        return [np.zeros_like(p)]

    def _update(self, p, g, slot):
        raise NotImplementedError


class SGD(_Optimizer):
    """Stochastic gradient descent, with optional momentum (Keras's form).

        velocity = momentum * velocity - lr * grad
        param   += velocity

    Arguments:
        lr: learning rate (> 0).
        momentum: in [0, 1); 0 gives plain ``param -= lr * grad``.
    """

    def __init__(self, lr=0.01, momentum=0.0):
        super().__init__(lr)
        self.momentum = _fraction("momentum", momentum)

    def _update(self, p, g, slot):
        if self.momentum == 0:
            p -= p.dtype.type(self.lr) * g
            return
        velocity = slot[0]
        velocity *= p.dtype.type(self.momentum)
        velocity -= p.dtype.type(self.lr) * g
        p += velocity

    def __repr__(self):
        return f"SGD(lr={self.lr}, momentum={self.momentum})"


class Adam(_Optimizer):
    """Adam (Kingma & Ba, 2015), with Keras's defaults and bias correction.

        m = beta_1 m + (1 - beta_1) grad          running mean of gradients
        v = beta_2 v + (1 - beta_2) grad**2       running mean of their squares
        param -= lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)

    Arguments:
        lr: learning rate (> 0).
        beta_1, beta_2: decay rates in [0, 1).
        epsilon: keeps the division finite (> 0).
    """

    def __init__(self, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__(lr)
        self.beta_1 = _fraction("beta_1", beta_1)
        self.beta_2 = _fraction("beta_2", beta_2)
        self.epsilon = _positive("epsilon", epsilon)

    def _new_slot(self, p):
        return [np.zeros_like(p), np.zeros_like(p)]

    def _update(self, p, g, slot):
        m, v = slot
        t = self.iterations
        m += (1 - self.beta_1) * (g - m)
        v += (1 - self.beta_2) * (g * g - v)
        step = self.lr * np.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        p -= p.dtype.type(step) * m / (np.sqrt(v) + p.dtype.type(self.epsilon))

    def __repr__(self):
        return f"Adam(lr={self.lr}, beta_1={self.beta_1}, beta_2={self.beta_2}, epsilon={self.epsilon})"

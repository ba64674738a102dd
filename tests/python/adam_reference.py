"""Adam/AdamW/AMSGrad in numpy float64: the reference the servers' float32
results are compared with (the formulas of torch.optim.Adam/AdamW)."""

import numpy as np


class AdamReference:
    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                 amsgrad=False, maximize=False, decoupled=False):
        self.p = np.asarray(params, np.float64).copy()
        self.m = np.zeros_like(self.p)
        self.v = np.zeros_like(self.p)
        self.vmax = np.zeros_like(self.p)
        self.t = 0
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.weight_decay, self.amsgrad, self.maximize = weight_decay, amsgrad, maximize
        self.decoupled = decoupled

    def step(self, grad):
        g = np.asarray(grad, np.float64).reshape(self.p.shape)
        if self.maximize:
            g = -g
        self.t += 1
        if self.weight_decay:
            if self.decoupled:  # AdamW
                self.p = self.p * (1 - self.lr * self.weight_decay)
            else:  # Adam: L2 term in the gradient
                g = g + self.weight_decay * self.p
        self.m = self.beta1 * self.m + (1 - self.beta1) * g
        self.v = self.beta2 * self.v + (1 - self.beta2) * g * g
        v = self.v
        if self.amsgrad:
            self.vmax = np.maximum(self.vmax, self.v)
            v = self.vmax
        bias_correction1 = 1 - self.beta1 ** self.t
        bias_correction2 = 1 - self.beta2 ** self.t
        denom = np.sqrt(v) / np.sqrt(bias_correction2) + self.eps
        self.p = self.p - (self.lr / bias_correction1) * self.m / denom
        return self.p


def max_relative_error(actual, expected):
    """max |actual - expected| / max |expected|: the error relative to the
    tensor's scale (an element-wise ratio blows up near zero)."""
    actual = np.asarray(actual, np.float64).reshape(-1)
    expected = np.asarray(expected, np.float64).reshape(-1)
    return float(np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1e-30))

"""Causal exponential filters along time (axis 1): AR(1) noise and exponential smoothing.

Both are convolutions with a truncated exponential kernel done by FFT, so a thousand series of a year take
milliseconds and no Python loop over time.
"""

from __future__ import annotations

import numpy as np

_KERNEL_TAUS = 10.0  # the kernel is cut where it has decayed to e^-10


def exponential_kernel(tau_steps: float) -> np.ndarray:
    """``a^k`` for k = 0 … 10 τ, with ``a = exp(-1/τ)``."""
    length = max(2, int(np.ceil(_KERNEL_TAUS * tau_steps)))
    return np.exp(-np.arange(length) / tau_steps)


def causal_convolve(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``y[:, t] = Σ_k kernel[k] · x[:, t - k]`` (zero before the start), same shape as ``x``."""
    n = x.shape[1] + len(kernel) - 1
    size = 1 << int(np.ceil(np.log2(n)))
    spectrum = np.fft.rfft(x, size, axis=1) * np.fft.rfft(kernel, size)
    return np.fft.irfft(spectrum, size, axis=1)[:, : x.shape[1]]


def ar1(n_series: int, n_steps: int, tau_steps: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary unit-variance AR(1) series with e-folding time ``tau_steps``, shape (n_series, n_steps).

    Invariants:
        Each value depends only on noise at or before its step; the series start in their stationary state.
    """
    kernel = exponential_kernel(tau_steps)
    kernel *= np.sqrt(1.0 / np.sum(kernel**2))
    burn_in = len(kernel)
    noise = rng.standard_normal((n_series, n_steps + burn_in))
    return causal_convolve(noise, kernel)[:, burn_in:]


def exp_smooth(x: np.ndarray, tau_steps: float) -> np.ndarray:
    """Exponential moving average with time constant ``tau_steps``, starting settled at the first value.

    Invariants:
        Causal: ``y[:, t]`` uses ``x[:, :t + 1]`` only.
    """
    kernel = exponential_kernel(tau_steps)
    kernel /= kernel.sum()
    pad = len(kernel)
    padded = np.concatenate([np.repeat(x[:, :1], pad, axis=1), x], axis=1)
    return causal_convolve(padded, kernel)[:, pad:]

"""Temperature scaling: one number that divides a model's log-odds so that its probabilities mean what they say
(Guo et al., 2017). The transformer fits it on a held-apart slice, the ensemble on out-of-fold predictions."""

from __future__ import annotations

import math
from typing import Callable


def fit_temperature(loss: Callable[[float], float]) -> tuple[float, float]:
    """The temperature between e^-3 and e^3 with the lowest ``loss(temperature)`` (searched on its logarithm),
    rounded to 4 decimals, and that loss."""
    from scipy.optimize import minimize_scalar

    fitted = minimize_scalar(lambda log_temperature: loss(math.exp(log_temperature)), bounds=(-3, 3),
                             method="bounded")
    return round(math.exp(fitted.x), 4), float(fitted.fun)

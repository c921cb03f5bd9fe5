"""Gap imputation: ten strategies behind one interface, and their automatic selection per home and gap length.

Usage::

    selector = ImputationSelector(candidates=DEFAULT_CANDIDATES, max_gap_hours=72.0).fit(frame)
    filled = selector.transform(frame)  # kwh, imputed, imputation_strategy

or one strategy on its own: ``IMPUTERS["seasonal_naive"]().fit(frame).transform(frame)``.
The learned strategies import scikit-learn / LightGBM only when fitted.
"""

from data_prep.quality.imputation.base import GapImputer
from data_prep.quality.imputation.registry import DEFAULT_CANDIDATES, FALLBACK, IMPUTERS
from data_prep.quality.imputation.selector import ImputationSelector

__all__ = ["DEFAULT_CANDIDATES", "FALLBACK", "IMPUTERS", "GapImputer", "ImputationSelector"]

"""The catalogue of registered features: what ``eliq features list`` shows."""

from __future__ import annotations

from typing import Any

import pandas as pd

CATALOG_COLUMNS = ["view", "feature", "dtype", "description", "owner", "refresh", "services"]


def feature_catalog(store: Any) -> pd.DataFrame:
    """One row per feature of every registered view and on-demand view.

    Args:
        store: a Feast ``FeatureStore``.

    Returns:
        ``view``, ``feature``, ``dtype`` (Feast type), ``description``, ``owner``, ``refresh`` (``hourly``,
        ``static``, ``push`` or ``request``) and ``services`` (the feature services that serve it, comma-separated),
        sorted by view and in schema order within a view.
    """
    served: dict[tuple[str, str], list[str]] = {}
    for service in store.list_feature_services():
        for projection in service.feature_view_projections:
            for field in projection.features:
                served.setdefault((projection.name, field.name), []).append(service.name)
    rows = []
    for view in [*store.list_feature_views(), *store.list_on_demand_feature_views()]:
        for field in view.features:
            rows.append(
                {
                    "view": view.name,
                    "feature": field.name,
                    "dtype": _type_name(field.dtype),
                    "description": field.description or view.tags.get(f"feature:{field.name}", ""),
                    "owner": view.owner,
                    "refresh": view.tags.get("refresh", ""),
                    "services": ",".join(sorted(served.get((view.name, field.name), []))),
                }
            )
    catalog = pd.DataFrame(rows, columns=CATALOG_COLUMNS)
    return catalog.sort_values("view", kind="stable").reset_index(drop=True)


def _type_name(dtype: Any) -> str:
    name = getattr(dtype, "name", None)
    return str(name if name else dtype).title().replace("_", "")

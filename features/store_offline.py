"""A Feast offline store for Parquet feature tables whose point-in-time join is a sorted as-of merge.

Feast's ``file`` (Dask) offline store joins each entity row to *every* source row of the same entity and then
filters by time: for a home with a year of hourly labels and a year of hourly features that is 8,760 × 8,760 rows,
tens of gigabytes for one home. :class:`AsofFileOfflineStore` keeps Feast's semantics (the same ``FileSource``s,
TTLs, created-timestamp tie-breaks and on-demand views, through ``FeatureStore.get_historical_features``) and
replaces only the join with ``pandas.merge_asof``, which is linear after a sort. Everything else (materialisation,
pushes) is the Dask store's. ``tests/features/test_store.py`` checks both stores give the same frame.

Select it in ``feature_store.yaml`` with ``offline_store: {type: features.store_offline.AsofFileOfflineStore}``.

Invariants:
    A feature row joins a label row only if its ``event_timestamp`` is at or before the label's, within the view's
    TTL (when the TTL is not zero); with ``filter_by_created_timestamp`` also its created timestamp. Among those rows
    the one with the latest event timestamp wins, then the latest created timestamp.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from feast.infra.offline_stores.dask import DaskOfflineStore, DaskOfflineStoreConfig, DaskRetrievalJob
from feast.infra.offline_stores.file_source import FileSource
from feast.infra.offline_stores.offline_store import RetrievalJob, RetrievalMetadata
from feast.on_demand_feature_view import OnDemandFeatureView
from feast.utils import _get_requested_feature_views_to_features_dict

ENTITY_TS = "event_timestamp"
_ROW = "__entity_row"


class AsofFileOfflineStoreConfig(DaskOfflineStoreConfig):  # type: ignore[misc]
    """Selects :class:`AsofFileOfflineStore`; no options."""

    type: str = "features.store_offline.AsofFileOfflineStore"  # type: ignore[assignment]


class AsofRetrievalJob(DaskRetrievalJob):  # type: ignore[misc]
    """A Dask retrieval job whose evaluation function returns a pandas frame (already computed)."""

    def _to_df_internal(self, timeout: int | None = None) -> pd.DataFrame:
        return self.evaluation_function()

    def _to_arrow_internal(self, timeout: int | None = None) -> pa.Table:
        return pa.Table.from_pandas(self.evaluation_function(), preserve_index=False)


class AsofFileOfflineStore(DaskOfflineStore):  # type: ignore[misc]
    """The Dask offline store with a linear point-in-time join for pandas entity frames."""

    @staticmethod
    def get_historical_features(
        config: Any,
        feature_views: list[Any],
        feature_refs: list[str],
        entity_df: Any,
        registry: Any,
        project: str,
        full_feature_names: bool = False,
        filter_by_created_timestamp: bool = False,
        **kwargs: Any,
    ) -> RetrievalJob:
        if not isinstance(entity_df, pd.DataFrame):  # SQL or no entity frame: the Dask path handles those
            return DaskOfflineStore.get_historical_features(
                config, feature_views, feature_refs, entity_df, registry, project, full_feature_names,
                filter_by_created_timestamp, **kwargs,
            )  # fmt: skip
        ts_col = entity_timestamp_column(entity_df)
        odfvs = OnDemandFeatureView.get_requested_odfvs(feature_refs, project, registry)
        views_to_features, _ = _get_requested_feature_views_to_features_dict(
            feature_refs, feature_views, odfvs
        )
        frame = entity_df

        def evaluate() -> pd.DataFrame:
            return point_in_time_join(
                frame,
                ts_col,
                views_to_features,
                config.repo_path,
                full_feature_names,
                filter_by_created_timestamp,
            )

        stamps = pd.to_datetime(entity_df[ts_col], utc=True)
        return AsofRetrievalJob(
            evaluation_function=evaluate,
            full_feature_names=full_feature_names,
            repo_path=str(config.repo_path),
            on_demand_feature_views=odfvs,
            metadata=RetrievalMetadata(
                features=feature_refs,
                keys=[c for c in entity_df.columns if c != ts_col],
                min_event_timestamp=stamps.min().floor("us").to_pydatetime(),
                max_event_timestamp=stamps.max().ceil("us").to_pydatetime(),
            ),
        )

    @staticmethod
    def pull_latest_from_table_or_query(
        config: Any,
        data_source: Any,
        join_key_columns: list[str],
        feature_name_columns: list[str],
        timestamp_field: str,
        created_timestamp_column: str | None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
    ) -> RetrievalJob:
        """The latest row of each key in ``[start_date, end_date]`` (materialisation), read with pyarrow."""

        def evaluate() -> pd.DataFrame:
            rows = _rows_in_range(config, data_source, join_key_columns, feature_name_columns, timestamp_field,
                                  created_timestamp_column, start_date, end_date)  # fmt: skip
            order = [timestamp_field, *([created_timestamp_column] if created_timestamp_column else [])]
            rows = rows.sort_values(order, kind="stable")
            return rows.drop_duplicates(join_key_columns, keep="last") if join_key_columns else rows.tail(1)

        return AsofRetrievalJob(
            evaluation_function=evaluate, full_feature_names=False, repo_path=str(config.repo_path)
        )

    @staticmethod
    def pull_all_from_table_or_query(
        config: Any,
        data_source: Any,
        join_key_columns: list[str],
        feature_name_columns: list[str],
        timestamp_field: str,
        created_timestamp_column: str | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
    ) -> RetrievalJob:
        """Every row in ``[start_date, end_date]``, read with pyarrow."""

        def evaluate() -> pd.DataFrame:
            return _rows_in_range(config, data_source, join_key_columns, feature_name_columns, timestamp_field,
                                  created_timestamp_column, start_date, end_date)  # fmt: skip

        return AsofRetrievalJob(
            evaluation_function=evaluate, full_feature_names=False, repo_path=str(config.repo_path)
        )


def _rows_in_range(
    config: Any,
    data_source: Any,
    keys: list[str],
    features: list[str],
    ts_field: str,
    created: str | None,
    start: datetime | None,
    end: datetime | None,
) -> pd.DataFrame:
    """The source's rows with ``start <= ts <= end`` (bounds included, as Feast's file store)."""
    path = FileSource.get_uri_for_file_path(config.repo_path, data_source.path)
    last = pd.Timestamp(end) if end is not None else pd.Timestamp.now(tz="UTC")
    first = pd.Timestamp(start) if start is not None else None
    columns = [*keys, *features, ts_field, *([created] if created else [])]
    rows = read_source(path, columns, key=None, ts_column=ts_field, ts_range=(first, last))
    stamps = pd.to_datetime(rows[ts_field], utc=True)
    inside = stamps <= last if first is None else (stamps >= first) & (stamps <= last)
    return rows[inside.to_numpy()].reset_index(drop=True)


def entity_timestamp_column(entity_df: pd.DataFrame) -> str:
    """``event_timestamp``, or the frame's only datetime column (Feast's rule)."""
    if ENTITY_TS in entity_df.columns:
        return ENTITY_TS
    candidates = entity_df.select_dtypes(include=["datetime", "datetimetz"]).columns
    if len(candidates) != 1:
        raise ValueError(f"the entity frame needs a column named {ENTITY_TS} (the label's cut-off time)")
    return str(candidates[0])


def point_in_time_join(
    entity_df: pd.DataFrame,
    ts_col: str,
    views_to_features: dict[Any, list[str]],
    repo_path: Any,
    full_feature_names: bool,
    filter_by_created_timestamp: bool,
) -> pd.DataFrame:
    """The entity frame with each requested feature as of its row's timestamp.

    Args:
        entity_df: entity keys and ``ts_col``; naive timestamps are taken as UTC.
        ts_col: the cut-off column.
        views_to_features: feature view → the names of its requested features.
        repo_path: the folder relative source paths resolve against.
        full_feature_names: name the columns ``view__feature``.
        filter_by_created_timestamp: also require the created timestamp to be at or before the cut-off.

    Returns:
        The entity frame's rows in their order, with one column per requested feature (null when no row matched).
    """
    out = entity_df.reset_index(drop=True).copy()
    out[ts_col] = _utc_ns(out[ts_col])
    for view, features in views_to_features.items():
        names = [f"{view.projection.name_to_use()}__{f}" if full_feature_names else f for f in features]
        joined = _join_view(out, ts_col, view, features, repo_path, filter_by_created_timestamp)
        for feature, name in zip(features, names, strict=True):
            out[name] = joined[feature]
    return out


def _join_view(
    entity: pd.DataFrame, ts_col: str, view: Any, features: list[str], repo_path: Any, by_created: bool
) -> pd.DataFrame:
    source: FileSource = view.batch_source
    to_source = {v: k for k, v in (source.field_mapping or {}).items()}
    keys = [c.name for c in view.entity_columns]
    left_keys = [view.projection.join_key_map.get(k, k) for k in keys]
    created = source.created_timestamp_column or None
    ttl = view.ttl if view.ttl and view.ttl > timedelta(0) else None
    right = read_source(
        FileSource.get_uri_for_file_path(repo_path, source.path),
        columns=[
            to_source.get(c, c) for c in [*keys, source.timestamp_field, *([created] if created else [])]
        ]
        + [to_source.get(f, f) for f in features],
        key=(to_source.get(keys[0], keys[0]), entity[left_keys[0]].dropna().unique())
        if len(keys) == 1
        else None,
        ts_column=to_source.get(source.timestamp_field, source.timestamp_field),
        ts_range=(entity[ts_col].min() - (ttl or pd.Timedelta(0)) if ttl else None, entity[ts_col].max()),
    ).rename(columns=source.field_mapping or {})
    return asof_rows(entity[[*left_keys, ts_col]], right, left_keys, keys, ts_col, source.timestamp_field,
                     created if by_created else None, created, ttl, features)  # fmt: skip


def read_source(
    path: str,
    columns: list[str],
    key: tuple[str, np.ndarray] | None,
    ts_column: str,
    ts_range: tuple[pd.Timestamp | None, pd.Timestamp],
) -> pd.DataFrame:
    """The rows of a Parquet file or folder that can match: the requested keys, not after the last cut-off.

    Raises:
        FileNotFoundError: the path does not exist; the message names it.
    """
    import fsspec
    import pyarrow.dataset as ds

    fs, local = fsspec.core.url_to_fs(path)
    if not fs.exists(local):
        raise FileNotFoundError(f"feature table not found: {path}")
    dataset = ds.dataset(local, filesystem=fs, format="parquet")
    ts_type = dataset.schema.field(ts_column).type
    start, end = ts_range
    # Whole seconds, rounded outwards: this only prunes rows; the join applies the exact bounds.
    condition = ds.field(ts_column) <= _arrow_second(end.ceil("s"), ts_type)
    if start is not None:
        condition &= ds.field(ts_column) >= _arrow_second(start.floor("s"), ts_type)
    if key is not None:
        condition &= ds.field(key[0]).isin(pa.array(key[1], type=dataset.schema.field(key[0]).type))
    return dataset.to_table(columns=list(dict.fromkeys(columns)), filter=condition).to_pandas()


def asof_rows(
    left: pd.DataFrame,
    right: pd.DataFrame,
    left_keys: list[str],
    right_keys: list[str],
    ts_col: str,
    right_ts: str,
    filter_created: str | None,
    created: str | None,
    ttl: timedelta | None,
    features: list[str],
) -> pd.DataFrame:
    """For each left row, the features of the latest usable right row of the same key (null when none).

    A right row is usable at a cut-off when it was known by then: its event timestamp (and, with ``filter_created``,
    its created timestamp) is at or before the cut-off. Among usable rows the latest event timestamp wins, ties go
    to the latest created timestamp, and a winner older than ``ttl`` before the cut-off is dropped.

    Invariants:
        Usable rows only grow with the cut-off, so the winner at a cut-off is the running best over the rows
        sorted by the moment they became known; one ``merge_asof`` on that moment finds it.
    """
    if right.empty or left.empty:
        nothing = right[features].iloc[:0].reindex(pd.RangeIndex(len(left)))
        nothing.index = left.index
        return nothing
    r_ts = _ns(right[right_ts])
    r_created = _ns(right[created]) if created else r_ts
    known = np.maximum(r_ts, r_created) if filter_created else r_ts
    codes_left, codes_right = _key_codes(left, left_keys, right, right_keys)
    rank = np.lexsort((r_created, r_ts, codes_right))  # rank[i] = the right row at place i; best = last
    rank_of_row = np.empty(len(right), dtype=np.int64)
    rank_of_row[rank] = np.arange(len(right))
    order = np.lexsort((rank_of_row, known))
    index = pd.DataFrame({"key": codes_right[order], "known": known[order], "rank": rank_of_row[order]})
    index["best"] = index.groupby("key", sort=False)["rank"].cummax()
    probe = pd.DataFrame({"key": codes_left, "known": _ns(left[ts_col]), "pos": np.arange(len(left))})
    probe = probe[probe["key"] >= 0].sort_values("known", kind="stable")
    matched = pd.merge_asof(
        probe, index[["key", "known", "best"]], on="known", by="key", direction="backward"
    )
    found = matched["best"].notna().to_numpy()
    winner = rank[matched["best"].fillna(0).to_numpy(np.int64)]
    if ttl is not None:
        found &= r_ts[winner] >= matched["known"].to_numpy() - ttl // timedelta(microseconds=1) * 1000
    rows = np.full(len(left), -1, dtype=np.int64)
    rows[matched["pos"].to_numpy()[found]] = winner[found]
    taken = right[features].take(np.maximum(rows, 0))
    taken.index = left.index
    missing = rows < 0
    return taken.mask(pd.Series(missing, index=left.index), axis=0) if missing.any() else taken


def _key_codes(
    left: pd.DataFrame, left_keys: list[str], right: pd.DataFrame, right_keys: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Shared integer codes of the join keys on both sides; -1 for a left key that is null."""
    if len(left_keys) == 1:
        both = np.concatenate([left[left_keys[0]].to_numpy(object), right[right_keys[0]].to_numpy(object)])
        codes, _ = pd.factorize(both)  # nulls get -1
    else:
        lk = pd.MultiIndex.from_frame(left[left_keys].set_axis(right_keys, axis=1))
        codes, _ = pd.factorize(lk.append(pd.MultiIndex.from_frame(right[right_keys])))
        codes = np.where(
            np.concatenate([left[left_keys].isna().any(axis=1), right[right_keys].isna().any(axis=1)]),
            -1,
            codes,
        )
    return codes[: len(left)], codes[len(left) :]


def _arrow_second(stamp: pd.Timestamp, arrow_type: pa.DataType) -> pa.Scalar:
    return pa.scalar(stamp.to_pydatetime(), type=pa.timestamp("s", tz="UTC")).cast(arrow_type)


def _utc_ns(values: pd.Series) -> pd.Series:
    """Timestamps as ``datetime64[ns, UTC]``; naive values are taken as UTC."""
    return pd.to_datetime(values, utc=True).dt.as_unit("ns")


def _ns(values: pd.Series) -> np.ndarray:
    """Timestamps as nanoseconds since the epoch [ns]; naive values are taken as UTC."""
    return np.asarray(pd.DatetimeIndex(pd.to_datetime(values, utc=True)).as_unit("ns").asi8)

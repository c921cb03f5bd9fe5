"""Fault injection into readings files, each fault logged with exactly the rows it touched.

A fault kind is a :class:`FaultKind` in the :data:`READING_FAULTS` registry: its frequency, the length of the
run of rows it takes and how it edits them. Faults never overlap (each claims its rows plus a margin), so the
log in ``_truth/faults.csv`` describes the files exactly.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from data_prep.sample_data.meter import MeterRows

MALFORMED_KINDS = ("extra_field", "text_in_kwh", "empty_home_id", "unparsable_ts")  # codes 1..4
LATE_FILE = "readings/late/part-0000.csv"
_MARGIN_ROWS = 2
_MAX_TRIES = 12


@dataclass(frozen=True)
class FaultRecord:
    """One injected fault, as logged in ``_truth/faults.csv`` (``fault_id`` is numbered when written)."""

    fault_type: str
    source: str
    file: str
    home_id: str
    ts_start: str
    ts_end: str
    n_rows: int
    detail: str


@dataclass
class FileEdits:
    """The pending edits of one readings file; applied at once by :meth:`apply`."""

    rows: MeterRows
    kwh: np.ndarray
    pv_kwh: np.ndarray
    export_kwh: np.ndarray
    label: np.ndarray
    malformed: np.ndarray
    keep: np.ndarray
    late: np.ndarray
    claimed: np.ndarray
    inserts: list[tuple[int, int, float]] = field(default_factory=list)  # (after row, source row, kwh)

    @classmethod
    def of(cls, rows: MeterRows) -> FileEdits:
        n = len(rows)
        return cls(
            rows,
            rows.kwh.copy(),
            rows.pv_kwh.copy(),
            rows.export_kwh.copy(),
            rows.label.copy(),
            rows.malformed.copy(),
            np.ones(n, dtype=bool),
            np.zeros(n, dtype=bool),
            np.zeros(n, dtype=bool),
        )

    def apply(self) -> tuple[MeterRows, MeterRows]:
        """The edited rows in file order (inserts right after their anchor) and the withheld late rows."""
        edited = replace(
            self.rows,
            kwh=self.kwh,
            pv_kwh=self.pv_kwh,
            export_kwh=self.export_kwh,
            label=self.label,
            malformed=self.malformed,
        )
        main = np.flatnonzero(self.keep & ~self.late)
        after = np.array([a for a, _, _ in self.inserts], dtype=float)
        source = np.array([s for _, s, _ in self.inserts], dtype=np.int64)
        keys = np.concatenate([main.astype(float), after + 0.5 + np.arange(len(after)) * 1e-6])
        index = np.concatenate([main, source])
        order = np.argsort(keys, kind="stable")
        out = edited.take(index[order])
        kwh = out.kwh.copy()
        is_insert = order >= len(main)
        kwh[is_insert] = np.array([k for _, _, k in self.inserts])[order[is_insert] - len(main)]
        return replace(out, kwh=kwh), edited.take(np.flatnonzero(self.late))


@dataclass(frozen=True)
class FaultContext:
    """What an edit needs to know beyond the rows.

    Attributes:
        file: the readings file, relative to the output root.
        utc_labels: UTC label of each ``utc`` code, for the log.
        utc_offset_steps: per home of the batch and ``utc`` code, the UTC offset in label steps (for
            dst_shift); ``None`` for files not labelled in UTC.
    """

    file: str
    utc_labels: np.ndarray
    utc_offset_steps: np.ndarray | None


Edit = Callable[[FileEdits, slice, np.random.Generator, FaultContext], str]


@dataclass(frozen=True)
class FaultKind:
    """A kind of readings fault.

    Attributes:
        rate_per_home_day: expected faults per home and day at ``fault_rate=1``.
        min_days: shortest run [days of rows]; ``max_days`` the longest.
        edit: applies the fault to a claimed run of rows and returns the log's detail.
        needs_positive: the first row of the run must have kwh > 0 (a spike of 0 is no spike).
        utc_only: only for files labelled in UTC (dst_shift).
        min_rows_per_day: not for files coarser than this (stuck needs several rows a day).
        reach_after_h: how far past its run the fault's labels can land [h]; that much is claimed too.
    """

    rate_per_home_day: float
    min_days: float
    max_days: float
    edit: Edit
    needs_positive: bool = False
    utc_only: bool = False
    min_rows_per_day: int = 1
    reach_after_h: float = 0.0


def _remove(e: FileEdits, run: slice, rng: np.random.Generator, ctx: FaultContext) -> str:
    e.keep[run] = False
    return f"{run.stop - run.start} rows removed"


def _duplicate(e: FileEdits, run: slice, rng: np.random.Generator, ctx: FaultContext) -> str:
    e.inserts.extend((run.stop - 1, i, float(e.kwh[i])) for i in range(run.start, run.stop))
    return "rows repeated verbatim after the originals"


def _conflicting(e: FileEdits, run: slice, rng: np.random.Generator, ctx: FaultContext) -> str:
    i = run.start
    factor = rng.choice([rng.uniform(0.5, 0.85), rng.uniform(1.15, 1.8)])
    other = round(max(float(e.kwh[i]) * factor, 0.001), 3)
    if other == e.kwh[i]:
        other = round(other + 0.011, 3)
    e.inserts.append((i, i, other))
    return f"kwh {e.kwh[i]:.3f} then {other:.3f}"


def _spike(e: FileEdits, run: slice, rng: np.random.Generator, ctx: FaultContext) -> str:
    factor = rng.uniform(10.0, 50.0)
    e.kwh[run] = np.round(e.kwh[run] * factor, 3)
    return f"factor={factor:.1f}"


def _negative(e: FileEdits, run: slice, rng: np.random.Generator, ctx: FaultContext) -> str:
    e.kwh[run] = -e.kwh[run]
    return "sign flipped"


def _stuck(e: FileEdits, run: slice, rng: np.random.Generator, ctx: FaultContext) -> str:
    value = float(e.kwh[run.start])
    e.kwh[run] = value
    return f"value {value:.3f} repeated"


def _meter_reset(e: FileEdits, run: slice, rng: np.random.Generator, ctx: FaultContext) -> str:
    home = e.rows.home == e.rows.home[run.start]
    positive = e.rows.kwh[home & (e.rows.kwh > 0)]
    typical = float(np.median(positive)) if len(positive) else 0.1
    factor = rng.uniform(150.0, 1000.0)
    e.kwh[run] = -round(typical * factor, 3)
    return f"kwh {e.kwh[run.start]:.3f} (-{factor:.0f}x typical {typical:.3f})"


def _dst_shift(e: FileEdits, run: slice, rng: np.random.Generator, ctx: FaultContext) -> str:
    assert ctx.utc_offset_steps is not None
    offsets = ctx.utc_offset_steps[e.rows.home[run], e.rows.utc[run]]
    e.label[run] = e.label[run] + offsets
    hours = sorted({float(h) for h in offsets * 24 / e.rows.rows_per_day})
    return "labelled with local wall-clock time as UTC: +" + "/+".join(f"{h:g}" for h in hours) + " h"


def _wrong_unit(e: FileEdits, run: slice, rng: np.random.Generator, ctx: FaultContext) -> str:
    for values in (e.kwh, e.pv_kwh, e.export_kwh):
        values[run] = np.round(values[run] * 1000.0, 3)
    return "values in Wh (x1000)"


def _malformed(e: FileEdits, run: slice, rng: np.random.Generator, ctx: FaultContext) -> str:
    kind = int(rng.integers(1, len(MALFORMED_KINDS) + 1))
    e.malformed[run] = kind
    return MALFORMED_KINDS[kind - 1]


def _late(e: FileEdits, run: slice, rng: np.random.Generator, ctx: FaultContext) -> str:
    e.late[run] = True
    return f"withheld from {ctx.file}"


READING_FAULTS: dict[str, FaultKind] = {
    "gap_short": FaultKind(2.0e-3, 0.0, 0.0, _remove),  # 1-3 intervals, see _run_length
    "gap_long": FaultKind(1.2e-3, 1.0, 5.0, _remove),
    "duplicate": FaultKind(2.0e-3, 0.0, 0.0, _duplicate),
    "conflicting_duplicate": FaultKind(1.5e-3, 0.0, 0.0, _conflicting),
    "spike": FaultKind(2.0e-3, 0.0, 0.0, _spike, needs_positive=True),
    "negative": FaultKind(1.0e-3, 0.0, 0.0, _negative, needs_positive=True),
    "stuck": FaultKind(1.0e-3, 0.5, 3.0, _stuck, needs_positive=True, min_rows_per_day=24),
    "meter_reset": FaultKind(1.0e-3, 0.0, 0.0, _meter_reset),
    "dst_shift": FaultKind(1.0e-3, 1.0, 4.0, _dst_shift, utc_only=True, reach_after_h=2.0),
    "wrong_unit": FaultKind(1.0e-3, 1.0, 3.0, _wrong_unit),
    "malformed_row": FaultKind(2.0e-3, 0.0, 0.0, _malformed),
    "late_arrival": FaultKind(1.5e-3, 1.0 / 24, 2.0, _late),
}
_SHORT_RUNS = {"gap_short": (1, 3), "duplicate": (1, 4)}  # runs counted in intervals, not days


def inject_reading_faults(
    rows: MeterRows, ctx: FaultContext, fault_rate: float, n_days: int, rng: np.random.Generator
) -> tuple[MeterRows, MeterRows, list[FaultRecord]]:
    """Inject faults into one readings file.

    Args:
        rows: the clean rows, sorted by home then time.
        ctx: the file and its label maps.
        fault_rate: scales every kind's frequency; 0 injects nothing.
        n_days: days in the window, to scale the expected count per home.
        rng: the file's fault stream (independent of the data's stream, so clean values do not depend on it).

    Returns:
        The rows to write, the late rows withheld from them, and the log of faults.

    Invariants:
        Runs of different faults are disjoint and separated by a margin; a logged run's ``ts_start`` and
        ``ts_end`` are the true UTC interval starts of its first and last row.
    """
    edits = FileEdits.of(rows)
    records: list[FaultRecord] = []
    if fault_rate <= 0 or len(rows) == 0:
        return *edits.apply(), records
    bounds = np.flatnonzero(np.diff(rows.home, prepend=-1, append=-1))
    for first, stop in itertools.pairwise(bounds):
        for name, kind in READING_FAULTS.items():
            if (kind.utc_only and ctx.utc_offset_steps is None) or rows.rows_per_day < kind.min_rows_per_day:
                continue
            for _ in range(rng.poisson(kind.rate_per_home_day * n_days * fault_rate)):
                length = _run_length(name, kind, rows.rows_per_day, rng)
                reach = int(np.ceil(kind.reach_after_h * rows.rows_per_day / 24))
                run = _claim(edits, int(first), int(stop), length, reach, kind.needs_positive, rng)
                if run is None:
                    continue
                detail = kind.edit(edits, run, rng, ctx)
                home_id = str(rows.home_ids[rows.home[run.start]])
                file = LATE_FILE if name == "late_arrival" else ctx.file
                ts_start, ts_end = ctx.utc_labels[rows.utc[run.start]], ctx.utc_labels[rows.utc[run.stop - 1]]
                n_rows = run.stop - run.start
                records.append(FaultRecord(name, "readings", file, home_id, ts_start, ts_end, n_rows, detail))
    return *edits.apply(), records


def _run_length(name: str, kind: FaultKind, rows_per_day: int, rng: np.random.Generator) -> int:
    if name in _SHORT_RUNS:
        low, high = _SHORT_RUNS[name]
        return int(rng.integers(low, high + 1))
    if kind.max_days == 0:
        return 1
    return max(1, round(rng.uniform(kind.min_days, kind.max_days) * rows_per_day))


def _claim(
    edits: FileEdits,
    first: int,
    stop: int,
    length: int,
    reach: int,
    needs_positive: bool,
    rng: np.random.Generator,
) -> slice | None:
    """A free run of ``length`` rows of one home (rows ``first..stop-1``), claimed with a margin, or None.

    ``reach`` more rows after the run are claimed for faults whose labels move forward (dst_shift).
    """
    low, high = first + _MARGIN_ROWS, stop - length - _MARGIN_ROWS - reach
    if high <= low:
        return None
    for _ in range(_MAX_TRIES):
        start = int(rng.integers(low, high))
        zone = slice(start - _MARGIN_ROWS, start + length + _MARGIN_ROWS + reach)
        if edits.claimed[zone].any() or (needs_positive and edits.rows.kwh[start] <= 0):
            continue
        edits.claimed[zone] = True
        return slice(start, start + length)
    return None

"""The quality report: every check's result over one set of observations, with a summary,
a notebook view and a self-contained HTML page (:mod:`jhe.quality._html`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jhe.quality import _duplicates, _outliers, _series, _timestamps, _units
from jhe.quality._frame import Frame, polars

PARTS = ("completeness", "coverage", "gaps", "outliers", "timestamps", "duplicates", "units", "cgm")


@dataclass(frozen=True)
class Settings:
    """The parameters every check was run with."""

    k: float = 3.0
    threshold_std: float = 3.0
    mad_k: float = 3.0
    valid_day_percent: float = 70.0
    tolerance: timedelta = timedelta(minutes=5)


class _Part:
    """One part of the report, read as a pandas DataFrame (held as polars)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, report: QualityReport | None, owner: type | None = None) -> Any:
        return self if report is None else report.parts[self.name].to_pandas()


@dataclass
class QualityReport:
    """Every quality check over a study's (or any frame's) observations.

    Each part is a pandas DataFrame (``to_arrow()`` gives pyarrow Tables, ``to_polars()``
    polars): ``completeness``, ``coverage``, ``gaps``, ``outliers``, ``timestamps``,
    ``duplicates``, ``units`` and ``cgm``. :meth:`summary` has one line per check;
    :meth:`to_html` writes the page to send to a PI. ``completeness`` is empty when the
    report was built from a frame alone (it needs the study's patients and consents)."""

    parts: dict[str, Any]
    fetched_at: datetime
    settings: Settings
    title: str = "jhe quality report"
    context: dict[str, Any] = field(default_factory=dict)

    completeness = _Part()
    coverage = _Part()
    gaps = _Part()
    outliers = _Part()
    timestamps = _Part()
    duplicates = _Part()
    units = _Part()
    cgm = _Part()

    def to_arrow(self) -> dict[str, Any]:
        """Each part as a pyarrow Table, by name."""
        return {name: frame.to_arrow() for name, frame in self.parts.items()}

    def to_polars(self) -> dict[str, Any]:
        """Each part as a polars DataFrame, by name."""
        return dict(self.parts)

    def summary(self) -> Any:
        """One line per check: ``check``, ``result`` (a count) and ``detail``."""
        pl = polars()
        return pl.DataFrame(summary_lines(self), schema={"check": pl.String, "result": pl.Int64, "detail": pl.String}, orient="row").to_pandas()

    def _repr_html_(self) -> str:
        from jhe.quality._html import notebook_html

        return notebook_html(self)

    def to_html(self, path: Any) -> Any:
        """Write the report as one self-contained HTML file (no scripts, no links out);
        returns the path."""
        from pathlib import Path

        from jhe.quality._html import page_html

        target = Path(path)
        target.write_text(page_html(self), encoding="utf-8")
        return target

    def __repr__(self) -> str:
        lines = [f"<jhe.QualityReport: {self.title}"]
        lines += [f"  {check}: {result:,} ({detail})" for check, result, detail in summary_lines(self)]
        return "\n".join(lines) + ">"


def summary_lines(report: QualityReport) -> list[tuple[str, int, str]]:
    pl = polars()
    p = report.parts
    s = report.settings
    lines: list[tuple[str, int, str]] = []
    if p["completeness"].height:
        missing = p["completeness"].filter(pl.col("status") != "has data")
        by_status = ", ".join(f"{n} {status}" for status, n in missing.group_by("status").len().sort("status").iter_rows())
        lines.append(("completeness", missing.height, f"patient × code pairs without data of {p['completeness'].height}" + (f": {by_status}" if by_status else "")))
    cov = p["coverage"]
    lines.append(("coverage", cov.filter(~pl.col("valid_day")).height, f"patient-days under {s.valid_day_percent:g}% active of {cov.height}"))
    lines.append(("gaps", p["gaps"].height, f"runs without a reading longer than {s.k:g} × the median interval"))
    for rule, label in (("zscore", f"|x − mean| > {s.threshold_std:g} SD"), ("mad", f"|x − median| > {s.mad_k:g} × 1.4826 MAD"), ("implausible", "outside physiological limits")):
        lines.append((f"outliers: {rule}", p["outliers"].filter(pl.col("rule") == rule).height, label))
    for rule in _timestamps.RULES:
        lines.append((f"timestamps: {rule}", p["timestamps"].filter(pl.col("rule") == rule).height, "observations"))
    for kind in ("same uuid", "same reading"):
        lines.append((f"duplicates: {kind}", p["duplicates"].filter(pl.col("kind") == kind).height, "observations in groups of two or more"))
    units_total = int(p["units"].get_column("observations").sum() or 0) if p["units"].height else 0
    lines.append(("units", units_total, "observations with a unit the schema does not allow"))
    cgm = p["cgm"]
    sufficient = cgm.filter(pl.col("meets_data_sufficiency")).height if cgm.height else 0
    lines.append(("cgm", cgm.height, f"patients with glucose readings; {sufficient} meet data sufficiency (≥ 14 days, ≥ 70% active)"))
    return lines


def errors_frame(errors: Any) -> Any:
    """Decode errors as a polars frame (``observation_id``, ``code``, ``reason``) from a list
    of dicts, :class:`jhe.Observations`, a pandas frame with ``attrs["jhe_errors"]``, or a
    frame of them."""
    pl = polars()
    from jhe._result import Observations

    if isinstance(errors, Observations):
        errors = errors.errors
    elif hasattr(errors, "attrs") and "jhe_errors" in getattr(errors, "attrs", {}):
        errors = errors.attrs["jhe_errors"]
    if isinstance(errors, pl.DataFrame):
        frame = errors
    elif isinstance(errors, list):
        frame = pl.DataFrame(
            [(e.get("observation_id"), e.get("code"), e.get("reason")) for e in errors],
            schema={"observation_id": pl.Int64, "code": pl.String, "reason": pl.String},
            orient="row",
        )
    elif errors is None:
        frame = pl.DataFrame(schema={"observation_id": pl.Int64, "code": pl.String, "reason": pl.String})
    else:
        frame = pl.from_pandas(errors)
    return frame.select(pl.col("observation_id").cast(pl.Int64), pl.col("code").cast(pl.String), pl.col("reason").cast(pl.String))


def build_report(
    frame: Frame,
    errors: Any,
    *,
    now: datetime,
    settings: Settings = Settings(),
    completeness: Any = None,
    birth_dates: Any = None,
    title: str = "jhe quality report",
    context: dict[str, Any] | None = None,
) -> QualityReport:
    """Run every check over `frame` (read by :func:`jhe.quality._frame.read`)."""
    pl = polars()
    per_patient = patient_parts(frame, now=now, settings=settings, birth_dates=birth_dates)
    same_reading = per_patient.pop("same_reading")
    per_patient["coverage"] = _series.coverage_of_days(per_patient.pop("daily"), settings.valid_day_percent)
    parts = {
        "completeness": completeness if completeness is not None else _empty_completeness(),
        **per_patient,
        "duplicates": _duplicates.ordered(pl.concat([_duplicates.same_uuid(frame.observations), same_reading])),
        "units": _units.units(errors_frame(errors)),
    }
    return QualityReport({name: parts[name] for name in PARTS}, now, settings, title, context or {})


# How each part computed per patient is ordered: parts of several sets of patients,
# concatenated, are ordered so again (jhe.dask.quality).
PATIENT_PART_ORDER = {
    "daily": [*_series.SERIES, "day"],
    "gaps": [*_series.SERIES, "start"],
    "outliers": ["patient_id", "code", "measure", "effective_start", "rule"],
    "timestamps": ["patient_id", "effective_start", "rule"],
    "same_reading": ["duplicate_of", "observation_id"],
    "cgm": ["patient_id"],
}


def patient_parts(frame: Frame, *, now: datetime, settings: Settings, birth_dates: Any = None) -> dict[str, Any]:
    """The checks that look at one patient at a time, so that a set of patients can be
    checked apart from the rest: ``same_reading`` (the duplicates of one patient's
    readings) and ``daily`` (the readings per day, from which :func:`_series.coverage_of_days`
    makes the coverage of every patient at once) beside the report's own parts."""
    from jhe.quality import cgm_of

    in_time = _series.series(frame.observations, now)
    return {
        "daily": _series.daily_readings(in_time),
        "gaps": _series.gaps(in_time, settings.k),
        "outliers": _outliers.flagged(frame.readings, _outliers.METHODS, settings.threshold_std, settings.mad_k),
        "timestamps": _timestamps.check(frame.observations, now, settings.tolerance, birth_dates),
        "same_reading": _duplicates.same_reading(frame.observations, frame.readings),
        "cgm": cgm_of(frame, now, in_time),
    }


def _empty_completeness() -> Any:
    pl = polars()
    return pl.DataFrame(
        schema={
            "patient_id": pl.Int64,
            "code": pl.Categorical,
            "observations": pl.Int64,
            "first": pl.Datetime("us", "UTC"),
            "last": pl.Datetime("us", "UTC"),
            "days_with_data": pl.Int64,
            "status": pl.String,
        }
    )



"""The report as HTML: a summary, a completeness heatmap per code (patients × days,
coloured by active time), the CGM time-in-ranges bars, and each check's rows. Inline CSS
and SVG only, so the file opens anywhere and can be mailed as it is."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from jhe.quality._frame import polars

if TYPE_CHECKING:
    from jhe.quality._report import QualityReport

# Heatmap and table sizes a browser shows well; the page says when it shows fewer.
MAX_HEATMAP_PATIENTS = 200
MAX_TABLE_ROWS = 200
# Colours of the consensus time-in-ranges bar (below 54 up to above 250).
RANGE_COLOURS = (("tbr_54", "#a50026", "< 54"), ("tbr_70_only", "#f46d43", "54–69"), ("tir_70_180", "#1a9850", "70–180"),
                 ("tar_180_only", "#fdae61", "181–250"), ("tar_250", "#d73027", "> 250"))
STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table.jhe{border-collapse:collapse;font-size:12px;margin:0.5em 0 1.5em}
table.jhe td,table.jhe th{border:1px solid #ddd;padding:2px 6px;text-align:left}
table.heat td{width:12px;height:12px;padding:0;border:1px solid #fff}
table.heat th{font-weight:normal;font-size:11px;padding:0 4px}
.muted{color:#777;font-size:12px}
"""


def notebook_html(report: QualityReport) -> str:
    return f"<div><b>{html.escape(report.title)}</b>{_summary_table(report)}{_heatmaps(report)}</div>"


def page_html(report: QualityReport) -> str:
    context = "".join(f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in report.context.items())
    sections = [
        f"<h1>{html.escape(report.title)}</h1>",
        f"<p class=muted>Fetched {report.fetched_at:%Y-%m-%d %H:%M:%S} UTC by jhe.</p><ul class=muted>{context}</ul>",
        "<h2>Summary</h2>", _summary_table(report),
        "<h2>Completeness</h2>", _heatmaps(report), _table(report.parts["completeness"]),
        "<h2>CGM (international consensus, Battelino et al. 2019)</h2>", _cgm_bars(report), _table(report.parts["cgm"]),
    ]
    for name, title in (("gaps", "Gaps"), ("outliers", "Outliers"), ("timestamps", "Timestamps"), ("duplicates", "Duplicates"), ("units", "Units")):
        sections += [f"<h2>{title}</h2>", _table(report.parts[name])]
    body = "\n".join(sections)
    return f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(report.title)}</title><style>{STYLE}</style></head><body>{body}</body></html>"


def _summary_table(report: QualityReport) -> str:
    from jhe.quality._report import summary_lines

    rows = "".join(
        f"<tr><td>{html.escape(check)}</td><td style='text-align:right'>{result:,}</td><td>{html.escape(detail)}</td></tr>"
        for check, result, detail in summary_lines(report)
    )
    return f"<table class=jhe><tr><th>check</th><th>result</th><th>detail</th></tr>{rows}</table>"


def _colour(active: float | None) -> str:
    if active is None:
        return "#eee"
    # White (0%) to green (100%); under 70% leans red so invalid days stand out.
    if active < 70:
        shade = int(255 - 120 * active / 70)
        return f"rgb(255,{shade},{shade})"
    green = int(200 - 100 * (active - 70) / 30)
    return f"rgb({green - 60},{green + 40},{green - 60})"


def _heatmaps(report: QualityReport) -> str:
    pl = polars()
    coverage = report.parts["coverage"]
    if coverage.height == 0:
        return "<p class=muted>No readings to map.</p>"
    out = []
    for (code,), per_code in coverage.partition_by("code", as_dict=True, maintain_order=True).items():
        days = per_code.get_column("day").unique().sort().to_list()
        patients = per_code.get_column("patient_id").unique().sort().to_list()
        shown = patients[:MAX_HEATMAP_PATIENTS]
        cells = {(p, d): a for p, d, a in per_code.filter(pl.col("patient_id").is_in(shown)).select("patient_id", "day", "active_percent").iter_rows()}
        head = "".join(f"<th title='{d}'>{d:%d}</th>" if i % 7 == 0 else "<th></th>" for i, d in enumerate(days))
        rows = []
        for p in shown:
            tds = "".join(
                f"<td title='{p} {d}: {cells.get((p, d), 0):.0f}% active' style='background:{_colour(cells.get((p, d)))}'></td>" for d in days
            )
            rows.append(f"<tr><th>{p}</th>{tds}</tr>")
        more = f"<p class=muted>First {len(shown)} of {len(patients)} patients.</p>" if len(patients) > len(shown) else ""
        out.append(f"<h3>{html.escape(str(code))}</h3><table class=heat><tr><th>patient</th>{head}</tr>{''.join(rows)}</table>{more}")
    return "".join(out)


def _cgm_bars(report: QualityReport) -> str:
    pl = polars()
    cgm = report.parts["cgm"]
    if cgm.height == 0:
        return "<p class=muted>No blood-glucose readings.</p>"
    bars = cgm.with_columns(tbr_70_only=pl.col("tbr_70") - pl.col("tbr_54"), tar_180_only=pl.col("tar_180") - pl.col("tar_250"))
    width, height = 300, 14
    rows = []
    for i, row in enumerate(bars.head(MAX_HEATMAP_PATIENTS).iter_rows(named=True)):
        x, rects = 0.0, []
        for column, colour, label in RANGE_COLOURS:
            w = width * (row[column] or 0.0) / 100
            rects.append(f"<rect x='{x + 90:.1f}' y='{i * (height + 4)}' width='{w:.1f}' height='{height}' fill='{colour}'><title>{label} mg/dL: {row[column] or 0:.1f}%</title></rect>")
            x += w
        rows.append(f"<text x='0' y='{i * (height + 4) + 11}' font-size='11'>{row['patient_id']}</text>{''.join(rects)}")
    svg_height = len(rows) * (height + 4)
    legend = " ".join(f"<span style='color:{c}'>■</span> {label}" for _, c, label in RANGE_COLOURS)
    return f"<svg width='{width + 100}' height='{svg_height}' xmlns='http://www.w3.org/2000/svg'>{''.join(rows)}</svg><p class=muted>{legend} mg/dL</p>"


def _table(frame: Any) -> str:
    if frame.height == 0:
        return "<p class=muted>None.</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>" for row in frame.head(MAX_TABLE_ROWS).iter_rows()
    )
    more = f"<p class=muted>First {MAX_TABLE_ROWS} of {frame.height:,} rows; the full table is in the report's frames.</p>" if frame.height > MAX_TABLE_ROWS else ""
    return f"<table class=jhe><tr>{head}</tr>{body}</table>{more}"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)

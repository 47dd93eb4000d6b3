"""The monitor's HTML report: one self-contained page per run, written by us (no Evidently,
see docs/monitoring.md), readable without a server."""

from __future__ import annotations

from html import escape
from typing import Any

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}
table{border-collapse:collapse;margin:0.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:0.25em 0.6em;text-align:right}
td:first-child,th:first-child{text-align:left}
tr.alert td{background:#fdd;font-weight:bold}
.ok{color:#060}.bad{color:#a00}
"""


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return escape(str(value))


def _row(cells: list[Any], alert: bool) -> str:
    tds = "".join(f"<td>{_num(c)}</td>" for c in cells)
    return f'<tr class="{"alert" if alert else "ok"}">{tds}</tr>'


def render(result: dict[str, Any]) -> str:
    """The page for one monitor result (``monitoring.monitor.run``'s dictionary)."""
    alerts = result.get("alerts", [])
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Mercato monitor {escape(result['run'])}</title><style>{STYLE}</style></head>",
        f"<body><h1>Mercato monitor, run {escape(result['run'])}</h1>",
        f"<p>At {escape(result['at'])}. Limits: PSI &gt; {result['limits']['psi_max']} with "
        f"p &lt; {result['limits']['p_value']} (features), prediction PSI &gt; "
        f"{result['limits']['prediction_psi_max']}.</p>",
    ]
    if alerts:
        parts.append('<h2 class="bad">Alerts</h2><ul>')
        parts.extend(f'<li class="bad">{escape(a)}</li>' for a in alerts)
        parts.append("</ul>")
        if result.get("retrain"):
            parts.append(f"<p>Retrain: {escape(', '.join(result['retrain']))}</p>")
    else:
        parts.append('<h2 class="ok">No alerts</h2>')
    head = "<tr><th>feature</th><th>kind</th><th>PSI</th><th>test</th><th>statistic</th>"
    head += "<th>p-value</th><th>reference n</th><th>current n</th><th>drifted</th></tr>"
    for family, part in result.get("families", {}).items():
        parts.append(
            f"<h2>{escape(family)}: {escape(part['model'])} v{escape(str(part['version']))}</h2>"
        )
        if part.get("skipped"):
            parts.append(f"<p>{escape(part['skipped'])}</p>")
            continue
        parts.append(
            f"<p>Reference snapshot {escape(str(part.get('reference_snapshot')))}, current "
            f"snapshot {escape(str(part.get('snapshot_at')))}.</p><table>{head}"
        )
        for d in [*part["features"], part["prediction"]]:
            parts.append(
                _row(
                    [
                        d["feature"],
                        d["kind"],
                        d["psi"],
                        d["test"],
                        d["statistic"],
                        d["p_value"],
                        d["n_reference"],
                        d["n_current"],
                        "DRIFT" if d["drifted"] else "ok",
                    ],
                    d["drifted"],
                )
            )
        parts.append("</table>")
    realised = result.get("realised", [])
    parts.append("<h2>Realised performance of earlier predictions</h2>")
    if realised:
        parts.append(
            "<table><tr><th>family</th><th>as of</th><th>version</th><th>n</th>"
            "<th>ROC-AUC</th><th>base rate</th><th>mean score</th></tr>"
        )
        floor = result["limits"].get("min_realised_auc", 0)
        for r in realised:
            low = r["roc_auc"] is not None and floor > 0 and r["roc_auc"] < floor
            parts.append(
                _row(
                    [
                        r["family"],
                        r["as_of"],
                        r["model_version"],
                        r["n"],
                        r["roc_auc"],
                        r["base_rate"],
                        r["mean_score"],
                    ],
                    low,
                )
            )
        parts.append("</table>")
    else:
        parts.append("<p>No prediction has matured yet.</p>")
    ranked = result.get("realised_topk", [])
    if ranked:
        parts.append(
            "<h2>Realised performance of earlier top-k lists</h2><table><tr><th>family</th>"
            "<th>as of</th><th>version</th><th>lists</th><th>judged</th><th>NDCG@k</th>"
            "<th>precision@k</th><th>popularity NDCG@k</th><th>lift</th></tr>"
        )
        floor = result["limits"].get("min_realised_lift", 0)
        for r in ranked:
            k = r["k"]
            low = r["lift"] is not None and floor > 0 and r["lift"] < floor
            cells = [r["family"], r["as_of"], r["model_version"], r["customers"], r["n"]]
            cells += [r["metrics"].get(f"ndcg_at_{k}"), r["metrics"].get(f"precision_at_{k}")]
            parts.append(_row([*cells, r["popularity"].get(f"ndcg_at_{k}"), r["lift"]], low))
        parts.append("</table>")
    parts.append(
        "<h2>Freshness</h2><table><tr><th>store</th><th>age (h)</th><th>limit (h)</th>"
        "<th>newest data</th><th>data lag (days)</th><th>stale</th></tr>"
    )
    for a in result.get("freshness", []):
        age = None if a["age_seconds"] is None else a["age_seconds"] / 3600
        lag = None if a["data_lag_seconds"] is None else a["data_lag_seconds"] / 86400
        parts.append(
            _row(
                [
                    a["name"],
                    age,
                    a["limit_hours"],
                    a["latest"],
                    lag,
                    "STALE" if a["stale"] else "ok",
                ],
                a["stale"],
            )
        )
    parts.append("</table></body></html>")
    return "\n".join(parts)

#!/usr/bin/env python3
"""Renders every panel of a Grafana dashboard from a live Prometheus into one PNG.

For machines without Grafana (CI, a shell on the cluster): each panel's PromQL targets are run
through Prometheus's /api/v1/query_range and drawn as lines (heatmap panels too), one subplot per
panel, one line per returned series, labelled from the target's legendFormat. A panel whose
queries return nothing, or fail, is drawn with a note instead.

    .venv/bin/python tools/render_dashboard.py --prometheus http://127.0.0.1:9090 \\
        --minutes 15 --out build/r1serve.png

tests/monitoring imports `panel_queries` to evaluate the same queries.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import pathlib
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "r1serve.json"

# Panels without queries of their own.
_LAYOUT_TYPES = {"row", "text", "news", "dashlist"}
_MAX_LEGEND_ENTRIES = 10


# --- the dashboard ----------------------------------------------------------------------------

def _panels(dashboard: dict) -> list[dict]:
    """Every panel that shows data, in dashboard order (panels of collapsed rows included)."""
    out = []
    for p in dashboard.get("panels", []):
        if p.get("type") == "row":
            out.extend(q for q in p.get("panels", []) if q.get("type") not in _LAYOUT_TYPES)
        elif p.get("type") not in _LAYOUT_TYPES:
            out.append(p)
    return out


def substitute(expr: str, rate_interval: str, interval: str | None = None) -> str:
    """Replaces Grafana's interval variables ($__rate_interval, $__interval, ${...} forms)."""
    interval = interval or rate_interval
    for name, value in (("__rate_interval", rate_interval), ("__interval", interval)):
        expr = re.sub(r"\$\{" + name + r"\}|\$" + name + r"\b", value, expr)
    return expr


def panel_targets(dashboard: dict, rate_interval: str = "1m"):
    """[(panel, [(expr, legendFormat), ...])] for every panel with visible PromQL targets."""
    out = []
    for p in _panels(dashboard):
        targets = [(substitute(t["expr"], rate_interval), t.get("legendFormat", ""))
                   for t in p.get("targets", []) if t.get("expr") and not t.get("hide")]
        if targets:
            out.append((p, targets))
    return out


def panel_queries(dashboard: dict, rate_interval: str = "1m") -> list[tuple[str, str, str]]:
    """[(panel title, PromQL with the interval variables substituted, legendFormat)]."""
    return [(p.get("title", ""), expr, legend)
            for p, targets in panel_targets(dashboard, rate_interval)
            for expr, legend in targets]


# --- Prometheus -------------------------------------------------------------------------------

def _get(url: str, timeout: float) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


def query_range(prometheus: str, expr: str, start: float, end: float, step: float,
                timeout: float = 30) -> list[tuple[dict, list[tuple[float, float]]]]:
    """[(labels, [(unix time, value)])]; raises RuntimeError with Prometheus's error."""
    qs = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    try:
        body = _get(f"{prometheus.rstrip('/')}/api/v1/query_range?{qs}", timeout)
    except urllib.error.HTTPError as e:  # 400/422 carry Prometheus's JSON error
        try:
            body = json.loads(e.read().decode())
        except ValueError:
            raise RuntimeError(f"HTTP {e.code}") from None
    if body.get("status") != "success":
        raise RuntimeError(body.get("error", "query failed"))
    series = []
    for s in body["data"]["result"]:
        points = []
        for t, v in s.get("values", []):
            x = float(v)
            points.append((float(t), x if math.isfinite(x) else math.nan))
        series.append((s.get("metric", {}), points))
    return series


def legend_text(fmt: str, labels: dict) -> str:
    """legendFormat with {{label}} filled in; the labels themselves when there is none."""
    if fmt and fmt != "__auto":
        return re.sub(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}",
                      lambda m: labels.get(m.group(1), ""), fmt).strip()
    name = labels.get("__name__", "")
    rest = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}" if rest else (name or "value")


# --- drawing ----------------------------------------------------------------------------------

def _unit_label(unit: str) -> str:
    return {"s": "seconds", "percentunit": "fraction", "reqps": "requests / s",
            "ops": "per second"}.get(unit, "")


def render(prometheus: str, dashboard: dict, out: pathlib.Path, minutes: float, step: float,
           rate_interval: str, columns: int = 3) -> list[str]:
    """Draws the dashboard into `out`; returns the titles of panels that had no data."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    end = time.time()
    start = end - minutes * 60
    panels = panel_targets(dashboard, rate_interval)
    rows = max(1, math.ceil(len(panels) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(6.4 * columns, 3.6 * rows), squeeze=False)
    empty = []
    for i, (panel, targets) in enumerate(panels):
        ax = axes[i // columns][i % columns]
        title = panel.get("title", "")
        ax.set_title(title, fontsize=10)
        drawn, only_nan, notes = 0, 0, []
        for expr, fmt in targets:
            try:
                series = query_range(prometheus, expr, start, end, step)
            except (RuntimeError, OSError, ValueError) as e:
                notes.append(f"error: {e}"[:90])
                continue
            for labels, points in series:
                finite = sum(1 for _, v in points if not math.isnan(v))
                if finite == 0:  # e.g. a quantile of a histogram without events
                    only_nan += 1 if points else 0
                    continue
                xs = [datetime.datetime.fromtimestamp(t) for t, _ in points]
                ax.plot(xs, [v for _, v in points], linewidth=1.1,
                        marker="o" if finite < 3 else None, markersize=3,
                        label=legend_text(fmt, labels) or "value")
                drawn += 1
        if drawn == 0:
            empty.append(title)
            if only_nan:
                notes.insert(0, f"{only_nan} series without values (no events in the range)")
            ax.text(0.5, 0.5, "\n".join(["no data", *notes]), ha="center", va="center",
                    transform=ax.transAxes, fontsize=9, color="gray", wrap=True)
        else:
            handles, labels = ax.get_legend_handles_labels()
            extra = len(handles) - _MAX_LEGEND_ENTRIES
            ax.legend(handles[:_MAX_LEGEND_ENTRIES], labels[:_MAX_LEGEND_ENTRIES], fontsize=7,
                      loc="upper left", title=f"+{extra} more" if extra > 0 else None,
                      title_fontsize=7)
            if notes:
                ax.text(0.99, 0.01, "; ".join(notes), ha="right", va="bottom",
                        transform=ax.transAxes, fontsize=7, color="red")
        margin = (end - start) * 0.02  # points at the range's end stay visible
        ax.set_xlim(datetime.datetime.fromtimestamp(start),
                    datetime.datetime.fromtimestamp(end + margin))
        locator = mdates.AutoDateLocator(maxticks=6)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.tick_params(labelsize=8)
        defaults = panel.get("fieldConfig", {}).get("defaults", {})
        ax.set_ylabel(_unit_label(defaults.get("unit", "")), fontsize=8)
        if drawn and isinstance(defaults.get("min"), (int, float)):
            ax.set_ylim(bottom=defaults["min"])
        if drawn and isinstance(defaults.get("max"), (int, float)):
            low = ax.get_ylim()[0]
            ax.set_ylim(top=defaults["max"] + 0.05 * (defaults["max"] - low))  # lines at max show
        ax.grid(True, alpha=0.3)
    for j in range(len(panels), rows * columns):
        axes[j // columns][j % columns].axis("off")
    stamp = datetime.datetime.fromtimestamp(end).strftime("%Y-%m-%d %H:%M:%S")
    fig.suptitle(f"{dashboard.get('title', 'dashboard')} — last {minutes:g} min to {stamp}, "
                 f"{prometheus}, rate interval {rate_interval}", fontsize=13)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return empty


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prometheus", default="http://127.0.0.1:9090", help="Prometheus base URL")
    ap.add_argument("--dashboard", type=pathlib.Path, default=DEFAULT_DASHBOARD,
                    help="Grafana dashboard JSON")
    ap.add_argument("--minutes", type=float, default=10, help="time range, ending now")
    ap.add_argument("--step", type=float, default=0,
                    help="query resolution in seconds (default: range / 240, at least 1)")
    ap.add_argument("--out", type=pathlib.Path, default=pathlib.Path("r1serve.png"))
    ap.add_argument("--rate-interval", default="1m", help="value of $__rate_interval")
    args = ap.parse_args(argv)
    if args.minutes <= 0:
        ap.error("--minutes must be positive")

    dashboard = json.loads(args.dashboard.read_text())
    try:
        _get(f"{args.prometheus.rstrip('/')}/api/v1/status/buildinfo", timeout=10)
    except (OSError, ValueError) as e:
        print(f"render_dashboard: Prometheus at {args.prometheus} does not answer: {e}",
              file=sys.stderr)
        return 2
    step = args.step or max(1.0, args.minutes * 60 / 240)
    empty = render(args.prometheus, dashboard, args.out, args.minutes, step, args.rate_interval)
    total = len(panel_targets(dashboard))
    print(f"render_dashboard: wrote {args.out} ({total} panels, {total - len(empty)} with data)")
    for title in empty:
        print(f"render_dashboard: no data: {title}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

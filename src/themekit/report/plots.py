"""Plotly figures as plain functions of result tables.

Every point or cell carries the verbatim quote (with transcript, speaker and offsets) in its
hover text, so what a researcher sees can be traced to the data. Colours come from
colour-blind-safe palettes (Okabe–Ito, then CARTO "Safe"); large maps switch to WebGL.
"""

from __future__ import annotations

import textwrap
from typing import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "PALETTE", "utterance_map", "code_overview", "similarity_heatmap", "theme_tree",
    "framework_heatmap", "hover_quote", "reliability_plot",
]

# Okabe & Ito (2008), then CARTO Safe: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#88CCEE", "#CC6677", "#DDCC77", "#117733", "#332288", "#AA4499", "#44AA99",
           "#999933", "#882255", "#661100", "#6699CC"]
_SYMBOLS = ["circle", "square", "diamond", "triangle-up", "cross", "x", "star", "hexagon"]
OUTLIER_COLOUR = "#BBBBBB"
_FONT = dict(family="Inter, Segoe UI, Helvetica, Arial, sans-serif", size=13)
WEBGL_ABOVE = 5000


def _go():
    import plotly.graph_objects as go

    return go


def hover_quote(text: str, width: int = 70, max_chars: int = 320) -> str:
    """A quote wrapped for a hover box (HTML line breaks), shortened with an ellipsis."""
    text = " ".join(str(text).split())
    if len(text) > max_chars:
        text = text[: max_chars - 1].rsplit(" ", 1)[0] + "…"
    return "<br>".join(textwrap.wrap(_escape(text), width)) or "&nbsp;"


def _escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _where(row) -> str:
    who = row.get("speaker") or row.get("transcript_id")
    return f"{_escape(str(who))} · {_escape(str(row.get('transcript_id')))} [{row.get('start')}:{row.get('end')}]"


def _layout(fig, title: str, height: int, **kw):
    fig.update_layout(title=dict(text=title, x=0.01, xanchor="left"), height=height, font=_FONT,
                      template="plotly_white", margin=dict(l=60, r=20, t=60, b=50), **kw)
    return fig


def utterance_map(points: pd.DataFrame, *, color_by: str = "code", label_col: str | None = "label",
                  title: str = "Utterance map", outlier_values: Sequence = ("", None, "-1", -1, "outlier"),
                  height: int = 650):
    """2-D map of utterances, one trace per group, hover shows the quote and where it is from.

    ``points`` needs columns ``x``, ``y``, ``text``, ``transcript_id``, ``start``, ``end`` and
    ``color_by``; ``speaker`` and ``label_col`` are used when present.
    """
    go = _go()
    missing = {"x", "y", "text", "transcript_id", "start", "end", color_by} - set(points.columns)
    if missing:
        raise ValueError(f"utterance_map needs columns {sorted(missing)}")
    n = len(points)
    scatter = go.Scattergl if n > WEBGL_ABOVE else go.Scatter
    size = 7 if n <= 2000 else (5 if n <= WEBGL_ABOVE else 3)
    max_chars = 320 if n <= WEBGL_ABOVE else 160
    fig = go.Figure()
    groups = points[color_by].astype(object).where(points[color_by].notna(), None)
    order = [g for g in pd.unique(groups) if g not in outlier_values]
    order = sorted(order, key=lambda g: -int((groups == g).sum()))
    is_outlier = groups.isin([v for v in outlier_values if v is not None]) | groups.isna()
    for k, g in enumerate(order + (["outlier"] if is_outlier.any() else [])):
        sel = is_outlier if g == "outlier" else (groups == g)
        df = points[sel]
        name = str(g)
        if label_col and label_col in df.columns and g != "outlier" and len(df):
            name = f"{g} · {df[label_col].iloc[0]}" if str(df[label_col].iloc[0]) != str(g) else name
        hover = [f"<b>{_escape(name)}</b><br>{hover_quote(t, max_chars=max_chars)}<br><i>{_where(r)}</i>"
                 for t, r in zip(df["text"], df.to_dict("records"))]
        colour = OUTLIER_COLOUR if g == "outlier" else PALETTE[k % len(PALETTE)]
        fig.add_trace(scatter(
            x=df["x"], y=df["y"], mode="markers", name=name[:60], hovertext=hover, hoverinfo="text",
            marker=dict(size=size, color=colour, opacity=0.5 if g == "outlier" else 0.85,
                        symbol=_SYMBOLS[(k // len(PALETTE)) % len(_SYMBOLS)], line=dict(width=0))))
    fig.update_xaxes(showticklabels=False, title=None, zeroline=False, showgrid=False)
    fig.update_yaxes(showticklabels=False, title=None, zeroline=False, showgrid=False)
    return _layout(fig, title, height, legend=dict(itemsizing="constant", font=dict(size=11)),
                   hoverlabel=dict(align="left"))


def code_overview(codes: pd.DataFrame, *, title: str = "Candidate codes: size and spread",
                  n_participants_total: int | None = None):
    """Each code as a bubble: x = participants voicing it, y = utterances, colour = stability.

    ``codes`` needs ``id``, ``label``, ``size``, ``n_participants``; ``stability``,
    ``key_terms`` and ``exemplar`` are shown when present.
    """
    go = _go()
    df = codes.reset_index(drop=True)
    stability = df["stability"] if "stability" in df else pd.Series(np.ones(len(df)))
    hover = []
    for r in df.to_dict("records"):
        h = f"<b>{_escape(str(r['id']))} · {_escape(str(r['label']))}</b><br>{r['size']} utterances, " \
            f"{r['n_participants']} participants"
        if "stability" in r and r["stability"] == r["stability"]:
            h += f", stability {r['stability']:.2f}"
        if r.get("key_terms"):
            terms = r["key_terms"] if isinstance(r["key_terms"], str) else ", ".join(r["key_terms"])
            h += f"<br>terms: {_escape(terms)}"
        if r.get("exemplar"):
            h += f"<br>“{hover_quote(r['exemplar'], max_chars=200)}”"
        hover.append(h)
    fig = go.Figure(go.Scatter(
        x=df["n_participants"], y=df["size"], mode="markers+text", text=df["id"],
        textposition="top center", hovertext=hover, hoverinfo="text",
        marker=dict(size=np.clip(np.sqrt(df["size"].astype(float)) * 3, 8, 40), color=stability,
                    colorscale="Cividis", cmin=0, cmax=1, showscale=True,
                    colorbar=dict(title="stability"), line=dict(width=1, color="#333"))))
    xmax = n_participants_total or (int(df["n_participants"].max()) if len(df) else 1)
    fig.update_xaxes(title="participants voicing the code (spread)", range=[0, xmax + 1])
    fig.update_yaxes(title="utterances")
    return _layout(fig, title, 520, hoverlabel=dict(align="left"))


def similarity_heatmap(similarity: pd.DataFrame, status: pd.Series | None = None, *,
                       title: str = "Candidate codes × codebook codes", value_name: str = "cosine"):
    """Similarity of candidate codes (rows) to codebook codes (columns), statuses in the row labels."""
    go = _go()
    rows = [f"{_escape(str(i))} [{status.get(i)}]" if status is not None and i in status.index
            else _escape(str(i)) for i in similarity.index]
    fig = go.Figure(go.Heatmap(
        z=similarity.values, x=[_escape(str(c)) for c in similarity.columns], y=rows,
        colorscale="Viridis", colorbar=dict(title=value_name),
        hovertemplate="%{y}<br>%{x}<br>" + value_name + " %{z:.2f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(tickangle=-40, automargin=True)
    height = max(420, 28 * len(rows) + 200)
    return _layout(fig, title, height)


def theme_tree(codes: pd.DataFrame, *, title: str = "Themes and their codes", kind: str = "sunburst"):
    """Theme → code hierarchy (sunburst or treemap), area = utterances.

    ``codes`` needs ``id``, ``label``, ``theme``, ``size``; ``theme_label`` optional.
    """
    go = _go()
    ids, labels, parents, values, hover = [], [], [], [], []
    theme_label = codes["theme_label"] if "theme_label" in codes else codes["theme"]
    for theme, tl in dict(zip(codes["theme"], theme_label)).items():
        members = codes[codes["theme"] == theme]
        ids.append(f"theme:{theme}")
        labels.append(_escape(str(tl)))
        parents.append("")
        values.append(int(members["size"].sum()))
        hover.append(f"<b>{_escape(str(tl))}</b><br>{len(members)} codes, {int(members['size'].sum())} utterances")
    for r in codes.to_dict("records"):
        ids.append(f"code:{r['id']}")
        labels.append(_escape(f"{r['id']} {r['label']}"))
        parents.append(f"theme:{r['theme']}")
        values.append(int(r["size"]))
        hover.append(f"<b>{_escape(str(r['label']))}</b><br>{r['size']} utterances")
    trace = go.Sunburst if kind == "sunburst" else go.Treemap
    fig = go.Figure(trace(ids=ids, labels=labels, parents=parents, values=values,
                          branchvalues="total", hovertext=hover, hoverinfo="text",
                          marker=dict(colors=[PALETTE[i % len(PALETTE)] for i in range(len(ids))])))
    return _layout(fig, title, 620)


def framework_heatmap(counts: pd.DataFrame, best_quotes: pd.DataFrame | None = None, *,
                      title: str = "Framework matrix: participants × themes"):
    """Counts of coded units per participant (rows) and theme or code (columns); hover: best quote."""
    go = _go()
    text = None
    if best_quotes is not None:
        bq = best_quotes.reindex(index=counts.index, columns=counts.columns)
        text = [[hover_quote(q, max_chars=240) if isinstance(q, str) and q else "–" for q in row]
                for row in bq.values]
    fig = go.Figure(go.Heatmap(
        z=counts.values, x=[_escape(str(c)) for c in counts.columns],
        y=[_escape(str(i)) for i in counts.index], colorscale="Blues", colorbar=dict(title="units"),
        text=text, hovertemplate="%{y} · %{x}<br>%{z} units<br>%{text}<extra></extra>"
        if text is not None else "%{y} · %{x}<br>%{z} units<extra></extra>"))
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(tickangle=-30, automargin=True)
    return _layout(fig, title, max(380, 30 * len(counts) + 200), hoverlabel=dict(align="left"))


def reliability_plot(table: pd.DataFrame, *, title: str = "Are the scores probabilities? Predicted vs observed"):
    """Reliability diagram: mean score (x) against the share right (y) per score bin, one line per
    ``scores`` group (e.g. before and after calibration); marker size ~ suggestions in the bin.
    ``table``: columns ``predicted, observed, n`` and optionally ``scores``
    (:func:`themekit.mapping.reliability_table`). On the diagonal, a score of 0.7 is right 70% of
    the time."""
    go = _go()
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color=OUTLIER_COLOUR, dash="dash"),
                             name="perfectly calibrated", hoverinfo="skip"))
    groups = table.groupby("scores", sort=False) if "scores" in table else [("scores", table)]
    for i, (name, g) in enumerate(groups):
        size = 6 + 14 * np.sqrt(g["n"] / max(1, table["n"].max()))
        fig.add_trace(go.Scatter(
            x=g["predicted"], y=g["observed"], mode="lines+markers", name=_escape(str(name)),
            marker=dict(size=size, color=PALETTE[i % len(PALETTE)], symbol=_SYMBOLS[i % len(_SYMBOLS)]),
            line=dict(color=PALETTE[i % len(PALETTE)]), customdata=g["n"],
            hovertemplate="predicted %{x:.2f}<br>observed %{y:.2f}<br>%{customdata} suggestions<extra></extra>"))
    fig.update_xaxes(title="score (mean in bin)", range=[0, 1])
    fig.update_yaxes(title="share right (coders applied the code)", range=[0, 1.02])
    return _layout(fig, title, 420)

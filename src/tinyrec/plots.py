"""The figures the labs share: quality against size, and quality with intervals over users and seeds.

Each function draws on a matplotlib ``ax`` the caller made (so a lab can put two panels side by side
and add its own lines) and returns it.
"""

import itertools

import matplotlib.ticker as ticker

from tinyrec.measure import pareto_front
from tinyrec.metrics import bootstrap_ci

MARKERS = "osD^v<>p*h"


def human(value, unit=""):
    """``1.5e6`` -> ``"1.5M"`` (k, M, G), for axis ticks and labels; ``unit`` is appended (e.g. ``"B"``)."""
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{prefix}{unit}"
    return f"{value:.3g}{unit}"


def quality_vs_size(ax, table, size="bytes", quality="NDCG@10", series=None, baseline=None, front=False,
                    labels=True, unit="B", join=True):
    """Each model of ``table`` (a DataFrame, one row per model, the index naming it) as a point at
    (``size``, ``quality``), on a log size axis with readable ticks (``unit`` after k/M/G).

    ``series``: a column whose values group the points into lines (one colour and marker each, joined
    in order of size; with ``join=False``, coloured points only); without it, points only. ``baseline``:
    the label of a row (e.g. the uncompressed model) whose quality is drawn as a dotted horizontal line.
    ``front=True`` draws the Pareto front (:func:`tinyrec.measure.pareto_front`: no model is both smaller
    and better) as a grey step line.
    ``labels``: annotate each point with its row label (``True``), or with ``labels(label)`` (a function).
    """
    for column in (size, quality) + ((series,) if series else ()):
        if column not in table.columns:
            raise ValueError(f"table has no column {column!r}; it has {list(table.columns)}")
    groups = table.groupby(series, sort=False) if series else [(None, table)]
    for (name, rows), marker, colour in zip(groups, itertools.cycle(MARKERS), itertools.cycle(f"C{i}" for i in range(10))):
        rows = rows.sort_values(size)
        ax.plot(rows[size], rows[quality], marker=marker, color=colour, ls="-" if series and join else "none",
                label=name)
    if baseline is not None:
        ax.axhline(table.loc[baseline, quality], color="k", ls=":", lw=1, zorder=0, label=f"{baseline}")
    if front:
        on_front = table.iloc[pareto_front(table[size], table[quality])]
        ax.step(on_front[size], on_front[quality], where="post", color="0.6", lw=3, alpha=0.4, zorder=0,
                label="Pareto front")
    if labels:
        name_of = labels if callable(labels) else str
        for label, row in table.iterrows():
            ax.annotate(name_of(label), (row[size], row[quality]), textcoords="offset points", xytext=(5, 4),
                        fontsize=8)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: human(value, unit)))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set(xlabel=f"{size} (log scale)", ylabel=quality)
    if series or baseline is not None or front:
        ax.legend(fontsize=8)
    return ax


def intervals(ax, per_user, per_seed=None, confidence=0.95, colours=None):
    """One row per model: the mean of per-user values with its bootstrap interval over users, and (when
    given) the mean of each seed as ticks above it.

    ``per_user``: ``{model: per-user values [n_users]}`` (e.g. NDCG@10 averaged over seeds);
    ``per_seed``: ``{model: [one mean per seed]}``. Models are drawn top to bottom in the dict's order.
    """
    for i, (name, values) in enumerate(per_user.items()):
        colour = colours[i] if colours else f"C{i}"
        mean, low, high = bootstrap_ci(values, confidence=confidence)
        ax.errorbar(mean, i, xerr=[[mean - low], [high - mean]], fmt="o", color=colour, capsize=4, ms=8)
        if per_seed is not None:
            ax.scatter(per_seed[name], [i + 0.18] * len(per_seed[name]), marker="|", s=120, color=colour)
    ax.set_yticks(range(len(per_user)), list(per_user))
    ax.invert_yaxis()
    return ax

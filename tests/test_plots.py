"""tinyrec.plots: the shared figures draw what they are given."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from tinyrec import plots  # noqa: E402

TABLE = pd.DataFrame({"bytes": [100, 1000, 50, 500], "NDCG@10": [0.2, 0.3, 0.1, 0.25],
                      "technique": ["a", "a", "b", "b"]}, index=["a1", "a2", "b1", "b2"])


@pytest.mark.parametrize("join, style", [(True, "-"), (False, "None")])
def test_quality_vs_size_groups_a_series_joined_or_as_points(join, style):
    fig, ax = plt.subplots()
    plots.quality_vs_size(ax, TABLE, series="technique", front=True, labels=False, join=join)
    groups = [line for line in ax.lines if line.get_label() in ("a", "b")]
    assert [line.get_label() for line in groups] == ["a", "b"] and {line.get_linestyle() for line in groups} == {style}
    assert list(groups[0].get_xdata()) == [100, 1000]  # in order of size
    front = next(line for line in ax.lines if line.get_label() == "Pareto front")
    assert list(front.get_xdata()) == [50, 100, 500, 1000]  # no point dominates another
    plt.close(fig)


def test_quality_vs_size_names_a_missing_column():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="no column 'ms'"):
        plots.quality_vs_size(ax, TABLE, size="ms")
    plt.close(fig)

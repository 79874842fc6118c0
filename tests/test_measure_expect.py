"""tinyrec.measure (ratios) and tinyrec.expect (ranges of measured values)."""

import json
import re
from pathlib import Path

import pytest
import torch

from tinyrec import expect, measure

ROOT = Path(__file__).resolve().parents[1]


def test_ratios_follow_the_usual_definitions():
    assert measure.compression_ratio(100, 25) == 4.0
    assert measure.speedup(2.0, 0.5) == 4.0
    assert measure.relative_drop(0.30, 0.27) == pytest.approx(0.1)
    for bad in (0, -1):
        with pytest.raises(ValueError, match="must be positive"):
            measure.compression_ratio(bad, 1)
        with pytest.raises(ValueError, match="must be positive"):
            measure.speedup(1.0, bad)


def test_saved_bytes_grow_with_the_model():
    small, large = torch.nn.Linear(10, 10), torch.nn.Linear(100, 100)
    assert 440 < measure.saved_bytes(small) < measure.saved_bytes(large)
    assert measure.saved_bytes(large) > 4 * 100 * 100


@pytest.fixture()
def table(tmp_path):
    path = tmp_path / "ranges.toml"
    path.write_text('["x.ndcg@10"]\nlow = 0.2\nhigh = 0.3\nnotebook = "n.ipynb"\nreason = "because"\n')
    return path


def test_check_passes_inside_and_fails_outside(table, tmp_path, monkeypatch):
    record = tmp_path / "record.jsonl"
    monkeypatch.setenv("TINYREC_RECORD", str(record))
    assert expect.check("x.ndcg@10", 0.25, path=table) == 0.25
    with pytest.raises(AssertionError, match=r"x.ndcg@10 = 0.35 is outside .*\[0.2, 0.3\].*because"):
        expect.check("x.ndcg@10", 0.35, path=table)
    with pytest.raises(AssertionError):
        expect.check("x.ndcg@10", float("nan"), path=table)
    with pytest.raises(KeyError, match="no expected range"):
        expect.check("y", 1.0, path=table)
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert lines[0] == {"name": "x.ndcg@10", "value": 0.25, "low": 0.2, "high": 0.3, "notebook": "n.ipynb"}
    assert [line["value"] for line in lines[1:]] == [0.35] + [lines[2]["value"]]


def test_malformed_entries_are_rejected(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('["x"]\nlow = 0.3\nhigh = 0.2\nnotebook = "n"\nreason = "r"\n')
    with pytest.raises(ValueError, match="low <= high"):
        expect.ranges(path)


def test_every_range_is_checked_by_its_notebook_and_every_check_has_a_range():
    table = expect.ranges()
    checked = {}
    for notebook in list(ROOT.glob("notebooks/*.ipynb")) + list(ROOT.glob("solutions/*.ipynb")):
        for name in re.findall(r'check\(\\"([^\\"]+)\\"', notebook.read_text()):
            checked[name] = notebook.relative_to(ROOT).as_posix()
    assert set(checked) == set(table), "ranges and expect.check calls differ"
    for name, notebook in checked.items():
        assert table[name]["notebook"] == notebook, f"{name} is checked in {notebook}"

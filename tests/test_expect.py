"""tinyrec.expect: ranges of measured values, and the record of a run."""

import json
import math
import re

import pytest

from tinyrec import config, expect


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
    assert lines[1]["value"] == 0.35  # values outside their range are recorded too, before the check fails
    assert math.isnan(lines[2]["value"]) and len(lines) == 3  # an unknown name records nothing


def test_malformed_entries_are_rejected(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('["x"]\nlow = 0.3\nhigh = 0.2\nnotebook = "n"\nreason = "r"\n')
    with pytest.raises(ValueError, match="low <= high"):
        expect.ranges(path)
    with pytest.raises(FileNotFoundError, match="TINYREC_EXPECTED"):
        expect.ranges(path.with_name("missing.toml"))


def test_every_range_is_checked_by_its_notebook_and_every_check_has_a_range():
    table = expect.ranges()
    root = config.PROJECT_ROOT
    checked = {}
    for notebook in list(root.glob("notebooks/*.ipynb")) + list(root.glob("solutions/*.ipynb")):
        for name in re.findall(r'check\(\\"([^\\"]+)\\"', notebook.read_text()):
            checked[name] = notebook.relative_to(root).as_posix()
    assert set(checked) == set(table), "ranges and expect.check calls differ"
    for name, notebook in checked.items():
        assert table[name]["notebook"] == notebook, f"{name} is checked in {notebook}"

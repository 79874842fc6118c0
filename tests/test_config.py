"""tinyrec.config: seeding, the environment variables, and the one integer validator."""

import numpy as np
import pytest
import torch

from tinyrec import config


def test_seed_everything_reads_the_environment(monkeypatch):
    monkeypatch.setenv("TINYREC_SEED", "7")
    assert config.seed_everything() == 7
    first = (torch.rand(3), np.random.rand())
    config.seed_everything(7)
    assert torch.equal(first[0], torch.rand(3)) and first[1] == np.random.rand()
    for bad in (-1, 1.5, "7", True):
        with pytest.raises(ValueError, match="seed"):
            config.seed_everything(bad)
    monkeypatch.setenv("TINYREC_SEED", "seven")
    with pytest.raises(ValueError, match="TINYREC_SEED must be an integer, got 'seven'"):
        config.resolve_seed()


def test_positive_int_accepts_any_integral_and_names_the_bad_value():
    assert config.positive_int("k", np.int64(3)) == 3 and type(config.positive_int("k", np.int32(3))) is int
    assert config.positive_int("seed", 0, minimum=0) == 0
    for bad in (0, -2, 2.0, True, "3", None):
        with pytest.raises(ValueError, match=f"k must be a positive integer, got {bad!r}"):
            config.positive_int("k", bad)


def test_locations_come_from_the_environment(tmp_path, monkeypatch):
    for name in ("TINYREC_CACHE", "TINYREC_DATA", "TINYREC_RECORD", "TINYREC_EXPECTED"):
        monkeypatch.delenv(name, raising=False)
    assert config.cache_dir().name == "tinyrec" and config.data_dir() is None and config.record_file() is None
    assert config.expected_file() == config.PROJECT_ROOT / "tests" / "expected_metrics.toml"
    monkeypatch.setenv("TINYREC_CACHE", str(tmp_path))
    monkeypatch.setenv("TINYREC_DATA", str(tmp_path / "ml-100k"))
    monkeypatch.setenv("TINYREC_RECORD", str(tmp_path / "record.jsonl"))
    assert config.cache_dir() == tmp_path and config.data_dir() == tmp_path / "ml-100k"
    assert config.record_file() == tmp_path / "record.jsonl"

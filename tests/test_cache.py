"""tinyrec.cache: keys that follow the code (not its comments), the torch version and the device."""

import importlib.util
import pickle

import pytest
import torch

from tinyrec import cache, models

CODE = '''"""A module."""


def scale(x):
    """Twice x."""
    return 2 * x  # the factor
'''


def load(path, source):
    path.parent.mkdir()
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_docstring_or_comment_edit_keeps_the_key_and_a_code_edit_changes_it(tmp_path, synthetic_split):
    def path_of(name, source):
        return cache.model_path("m", {"a": 1}, synthetic_split, code=(load(tmp_path / name / "module.py", source),))

    original = path_of("original", CODE)
    reworded = CODE.replace('"""Twice x."""', '"""Double the input,\n    explained at length."""')
    assert path_of("reworded", reworded.replace("# the factor", "# why 2: see the book")) == original
    assert path_of("reformatted", CODE.replace("return 2 * x", "return (2\n            * x)")) == original
    assert path_of("changed", CODE.replace("2 * x", "3 * x")) != original
    assert path_of("no_docstring", CODE.replace('    """Twice x."""\n', "")) == original


def test_the_key_holds_config_split_torch_version_and_device(synthetic_split, monkeypatch):
    code = (models.EASE,)
    base = cache.model_path("ease", {"lam": 1.0}, synthetic_split, code)
    assert cache.model_path("ease", {"lam": 2.0}, synthetic_split, code) != base
    assert cache.model_path("bpr", {"lam": 1.0}, synthetic_split, code) != base
    assert cache.model_path("ease", {"lam": 1.0}, synthetic_split, (models.BPRMF,)) != base
    monkeypatch.setattr(torch, "__version__", "0.0.1")
    assert cache.model_path("ease", {"lam": 1.0}, synthetic_split, code) != base
    monkeypatch.undo()
    monkeypatch.setattr(cache, "default_device", lambda: torch.device("cuda"))
    assert cache.model_path("ease", {"lam": 1.0}, synthetic_split, code) != base


def test_cached_trains_once_then_loads(synthetic_split, isolated_cache):
    split, calls = synthetic_split, []

    def fit():
        calls.append(1)
        return models.EASE(split.n_items, 5.0).fit(split.matrix("train")), [{"epoch": 0}]

    first, history = cache.cached("ease", {"lam": 5.0}, split, (models.EASE,), fit, lambda: models.EASE(split.n_items))
    again, again_history = cache.cached("ease", {"lam": 5.0}, split, (models.EASE,), fit,
                                        lambda: models.EASE(split.n_items))
    assert calls == [1] and again_history == history and torch.equal(first.weight, again.weight)
    assert len(list((isolated_cache / "models").glob("ease-*.pt"))) == 1


class _Exploit:
    def __reduce__(self):
        return (exec, ("raise SystemExit('arbitrary code ran')",))


def test_cache_never_executes_code_from_a_checkpoint(synthetic_split, isolated_cache):
    path = cache.model_path("ease", {"lam": 5.0}, synthetic_split, (models.EASE,))
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps({"state_dict": _Exploit(), "history": []}, protocol=2))
    with pytest.raises(pickle.UnpicklingError):
        cache.cached("ease", {"lam": 5.0}, synthetic_split, (models.EASE,), fit=None,
                     build=lambda: models.EASE(synthetic_split.n_items))


def test_package_fingerprint_ignores_docstrings(tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "a.py").write_text(CODE)
    monkeypatch.setattr(cache, "PACKAGE", package)
    monkeypatch.setenv("TINYREC_EXPECTED", str(tmp_path / "none.toml"))
    before = cache.package_fingerprint()
    (package / "a.py").write_text(CODE.replace("Twice x.", "Two times x."))
    assert cache.package_fingerprint() == before
    (package / "a.py").write_text(CODE.replace("2 * x", "2 * x + 1"))
    assert cache.package_fingerprint() != before

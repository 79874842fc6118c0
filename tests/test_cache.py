"""tinyrec.cache: keys that follow the code a model runs (not comments, not unrelated code), the torch
version and the device."""

import importlib.util
import pickle
import sys

import pytest
import torch

from tinyrec import cache, models, recipes

CODE = '''"""A module."""

FACTOR = 2


def scale(x):
    """Twice x."""
    return FACTOR * helper(x)  # the factor


def helper(x):
    return x + 0


def unrelated(x):
    return x - 1
'''


def fingerprint(tmp_path, source, name="tinyrec_example"):
    """The fingerprint of ``scale`` in a module made of ``source``."""
    path = tmp_path / f"{len(list(tmp_path.iterdir()))}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        return cache.code_fingerprint(module.scale)
    finally:
        del sys.modules[name]


def test_a_docstring_comment_or_layout_edit_keeps_the_key(tmp_path):
    original = fingerprint(tmp_path, CODE)
    reworded = CODE.replace('"""Twice x."""', '"""Double the input,\n    explained at length."""')
    assert fingerprint(tmp_path, reworded.replace("# the factor", "# why 2: see the book")) == original
    assert fingerprint(tmp_path, CODE.replace("return FACTOR * helper(x)", "return (FACTOR\n            * helper(x))")) \
        == original
    assert fingerprint(tmp_path, CODE.replace('    """Twice x."""\n', "")) == original


def test_a_code_edit_changes_the_key_and_an_unrelated_one_does_not(tmp_path):
    original = fingerprint(tmp_path, CODE)
    assert fingerprint(tmp_path, CODE.replace("FACTOR * helper", "3 * helper")) != original
    assert fingerprint(tmp_path, CODE.replace("x + 0", "x + 1")) != original  # a function it calls
    assert fingerprint(tmp_path, CODE.replace("FACTOR = 2", "FACTOR = 3")) != original  # a constant it reads
    assert fingerprint(tmp_path, CODE.replace("x - 1", "x - 2")) == original  # a function it never calls
    assert fingerprint(tmp_path, CODE + "\n\ndef new_function():\n    return 0\n") == original


def test_dependencies_follow_the_recipes_code():
    found, _ = cache.dependencies(*recipes._code(None))
    for needed in ("tinyrec.train.train_bpr", "tinyrec.train.sample_negatives", "tinyrec.evaluate.evaluate",
                   "tinyrec.metrics.all_at_k", "tinyrec.models.BPRMF", "tinyrec.models.bpr_loss",
                   "tinyrec.config.seed_everything", "tinyrec.data.split_per_user", "tinyrec.data._split_sizes"):
        assert needed in found, needed
    assert not any(name.startswith("tinyrec.share") for name in found)  # a plain model does not run sharing
    assert not any(name.startswith("tinyrec.cache") for name in found)
    shared, _ = cache.dependencies(*recipes._code({"kind": "qr", "reduction": 4}))
    assert "tinyrec.share.QREmbedding" in shared
    with pytest.raises(ValueError, match="tinyrec functions or classes"):
        cache.code_fingerprint(models)


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
    (package / "a.py").write_text(CODE.replace("x + 0", "x + 1"))
    assert cache.package_fingerprint() != before


def test_loading_only_loads_a_cached_model_and_never_trains_one(synthetic_split, isolated_cache):
    split, calls = synthetic_split, []

    def fit():
        calls.append(1)
        return models.EASE(split.n_items, 5.0).fit(split.matrix("train")), []

    def ease(lam):
        return cache.cached("ease", {"lam": lam}, split, (models.EASE,), fit, lambda: models.EASE(split.n_items))

    ease(5.0)
    with cache.loading_only():
        loaded, _ = ease(5.0)  # cached: loaded
        with pytest.raises(cache.NotCached, match=r'ease \{"lam": 6.0\} is not cached'):
            ease(6.0)
    assert calls == [1] and isinstance(loaded, models.EASE)
    ease(6.0)  # outside the block, training is allowed again
    assert calls == [1, 1]

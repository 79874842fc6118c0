"""The on-disk cache of trained models, keyed by everything that determines them.

A model is stored in ``$TINYREC_CACHE/models/<name>-<key>.pt``; the key hashes its name and
configuration (seed included), the split (data hash, seed, ratios), the torch version, the device it
was trained on, and the *code* it depends on: the recipe's functions and classes and, transitively,
every ``tinyrec`` function, class and constant they refer to — as parsed code, so comments, docstrings
and formatting do not count. Editing an explanation never retrains a model; editing a line of code that
a model depends on always does; editing an unrelated function of the same module does not.
Loading uses ``torch.load(weights_only=True)``, which never executes code from the file. Inside
:func:`loading_only` a model that is not cached raises :class:`NotCached` instead of being trained.

``python -m tinyrec.cache`` prints the fingerprint of the whole package and the expected ranges: the
Makefile executes every notebook again when it changes.
"""

import ast
import contextlib
import hashlib
import inspect
import json
import os
import sys
import textwrap
import types
from pathlib import Path

import torch

from tinyrec.config import cache_dir, default_device, expected_file, read_toml

PACKAGE = Path(__file__).resolve().parent
_SIMPLE = (str, int, float, bool, type(None))


def _without_docstrings(tree):
    """``tree`` with the docstring of every module, class and function removed (in place)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def source_fingerprint(source):
    """SHA-256 (hex) of Python ``source`` as parsed code: comments, docstrings and layout left out."""
    tree = _without_docstrings(ast.parse(textwrap.dedent(source)))
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def _is_code(value):
    """A function or class of ``tinyrec`` (but not of this module: the cache's machinery is not a model's)."""
    module = getattr(value, "__module__", "") or ""
    return (isinstance(value, (types.FunctionType, type)) and module.startswith("tinyrec")
            and module != __name__)


def _referenced(obj):
    """What the source of ``obj`` (a function or class) names: ``(code objects, {name: constant})``."""
    namespace = vars(sys.modules[obj.__module__])
    code, constants = [], {}
    for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(obj)))):
        if isinstance(node, ast.Name):
            name, value = f"{obj.__module__}.{node.id}", namespace.get(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and isinstance(namespace.get(node.value.id), types.ModuleType) \
                and namespace[node.value.id].__name__.startswith("tinyrec"):
            module = namespace[node.value.id]
            name, value = f"{module.__name__}.{node.attr}", getattr(module, node.attr, None)
        else:
            continue
        for item in value if isinstance(value, (tuple, list)) else (value,):
            if _is_code(item):
                code.append(item)
        if isinstance(value, _SIMPLE) or (isinstance(value, (tuple, dict)) and _plain(value)):
            constants[name] = repr(value)
    return code, constants


def _plain(value):
    """True for numbers, strings and tuples/dicts of them: constants whose repr is stable."""
    if isinstance(value, dict):
        return all(_plain(k) and _plain(v) for k, v in value.items())
    if isinstance(value, tuple):
        return all(_plain(v) for v in value)
    return isinstance(value, _SIMPLE)


def dependencies(*roots):
    """``roots`` and every ``tinyrec`` function and class they refer to, transitively, by qualified name;
    and the constants they read. Returns ``({name: object}, {name: repr of constant})``."""
    found, constants, stack = {}, {}, list(roots)
    while stack:
        obj = stack.pop()
        if not _is_code(obj):
            raise ValueError(f"code must list tinyrec functions or classes, got {obj!r}")
        key = f"{obj.__module__}.{obj.__qualname__}"
        if key in found:
            continue
        found[key] = obj
        code, named = _referenced(obj)
        stack += code
        constants.update(named)
    return found, constants


def code_fingerprint(*roots):
    """Short fingerprint of the code ``roots`` run: their sources and those of everything they use."""
    found, constants = dependencies(*roots)
    parts = [f"{key}:{source_fingerprint(inspect.getsource(obj))}" for key, obj in sorted(found.items())]
    parts += [f"{key}={value}" for key, value in sorted(constants.items())]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
def package_fingerprint():
    """Fingerprint of every module of ``tinyrec`` and of the expected ranges (their parsed values)."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(f"{path.relative_to(PACKAGE).as_posix()}:{source_fingerprint(path.read_text())}\n".encode())
    ranges = expected_file()
    if ranges.is_file():
        digest.update(json.dumps(read_toml(ranges), sort_keys=True).encode())
    return digest.hexdigest()[:16]


class NotCached(LookupError):
    """A model asked for inside :func:`loading_only` is not in the cache (the message names it)."""


_LOADING_ONLY = []  # one entry per open loading_only() block


@contextlib.contextmanager
def loading_only():
    """Within the block, :func:`cached` loads models from the cache but never trains one: a model that is
    not cached raises :class:`NotCached` instead. For a page that shows a model only when the lab that
    trains it has run (its cold cost stays that of loading), e.g. ``with loading_only(): model = ...``."""
    _LOADING_ONLY.append(True)
    try:
        yield
    finally:
        _LOADING_ONLY.pop()


def model_path(name, config, split, code):
    """Where the model ``name`` with ``config``, trained on ``split`` by ``code``, is cached."""
    identity = {"name": name, "config": config, "split": split.fingerprint, "code": code_fingerprint(*code),
                "torch": torch.__version__, "device": default_device().type}
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]
    return cache_dir() / "models" / f"{name}-{key}.pt"


def cached(name, config, split, code, fit, build):
    """``(model, history)`` from ``fit()``, or from the cache if this exact model was trained before.

    ``config`` (JSON-serialisable) must hold every setting that changes the result; ``code`` lists the
    modules (or classes, functions) whose code determines it; ``build()`` makes an untrained model of
    the right shape to load cached weights into. The model is returned on the CPU, in eval mode.
    """
    path = model_path(name, config, split, code)
    if path.exists():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model = build()
        model.load_state_dict(saved["state_dict"])
        return model.eval(), saved["history"]
    if _LOADING_ONLY:
        raise NotCached(f"{name} {json.dumps(config, sort_keys=True)} is not cached ({path.name}), and "
                        "loading_only() forbids training it: run the lab that trains it first")
    model, history = fit()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    state = {k: v.cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "history": history}, partial)
    partial.replace(path)
    return model.cpu().eval(), history


if __name__ == "__main__":
    print(package_fingerprint())

"""The on-disk cache of trained models, keyed by everything that determines them.

A model is stored in ``$TINYREC_CACHE/models/<name>-<key>.pt``; the key hashes its name and
configuration (seed included), the split (data hash, seed, ratios), the torch version, the device it
was trained on, and the *code* it depends on — as parsed code: comments, docstrings and formatting do
not count, so editing an explanation never retrains a model, and editing a line of code always does.
Loading uses ``torch.load(weights_only=True)``, which never executes code from the file.

``python -m tinyrec.cache`` prints the fingerprint of the whole package and the expected ranges: the
Makefile executes every notebook again when it changes.
"""

import ast
import hashlib
import inspect
import json
import os
from pathlib import Path

import torch

from tinyrec.config import cache_dir, default_device, expected_file, read_toml

PACKAGE = Path(__file__).resolve().parent


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
    tree = _without_docstrings(ast.parse(source))
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def code_fingerprint(*objects):
    """Short fingerprint of the code of ``objects`` (modules, classes or functions), order-independent."""
    parts = sorted(f"{getattr(o, '__module__', '')}.{o.__name__}:{source_fingerprint(inspect.getsource(o))}"
                   for o in objects)
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
    model, history = fit()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    state = {k: v.cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "history": history}, partial)
    partial.replace(path)
    return model.cpu().eval(), history


if __name__ == "__main__":
    print(package_fingerprint())

"""Where the book keeps things, and the seed: every ``TINYREC_*`` environment variable is read here.

* ``TINYREC_SEED`` — the seed of everything random (default 0), see :func:`resolve_seed`;
* ``TINYREC_CACHE`` — downloaded data and trained models (default ``~/.cache/tinyrec``);
* ``TINYREC_DATA`` — a local GroupLens ``ml-100k`` folder to read instead of the cached copy;
* ``TINYREC_EXPECTED`` — the expected-ranges file (default ``tests/expected_metrics.toml``);
* ``TINYREC_RECORD`` — a file that every :func:`tinyrec.expect.check` appends its value to.

This module imports nothing else from ``tinyrec``: it is the bottom layer.
"""

import numbers
import os
import random
from pathlib import Path

import numpy as np
import torch

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def positive_int(name, value, minimum=1):
    """``value`` as an ``int`` if it is an integer (``numbers.Integral``, not a bool) ``>= minimum``,
    else ``ValueError`` naming ``name`` and the value."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        wanted = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return int(value)


def resolve_seed(seed=None):
    """``seed`` itself, or ``TINYREC_SEED`` (default 0) when it is ``None``; a non-negative integer."""
    if seed is None:
        raw = os.environ.get("TINYREC_SEED", "0")
        try:
            seed = int(raw)
        except ValueError:
            raise ValueError(f"TINYREC_SEED must be an integer, got {raw!r}") from None
    return positive_int("seed", seed, minimum=0)


def seed_everything(seed=None):
    """Seed Python, NumPy and torch; ``None`` reads ``TINYREC_SEED`` (default 0). Returns the seed."""
    seed = resolve_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return seed


def cache_dir():
    """The folder for downloaded data and trained models: ``$TINYREC_CACHE`` or ``~/.cache/tinyrec``."""
    return Path(os.environ.get("TINYREC_CACHE") or Path.home() / ".cache" / "tinyrec")


def data_dir():
    """The local GroupLens ``ml-100k`` folder named by ``TINYREC_DATA``, or ``None``."""
    path = os.environ.get("TINYREC_DATA")
    return Path(path).expanduser() if path else None


def expected_file():
    """The expected-ranges file: ``$TINYREC_EXPECTED`` or the project's ``tests/expected_metrics.toml``."""
    return Path(os.environ.get("TINYREC_EXPECTED") or PROJECT_ROOT / "tests" / "expected_metrics.toml")


def read_toml(path):
    """The contents of the TOML file at ``path`` as a dict."""
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def record_file():
    """The file named by ``TINYREC_RECORD`` that checked values are appended to, or ``None``."""
    path = os.environ.get("TINYREC_RECORD")
    return Path(path) if path else None


def default_device():
    """``cuda`` when a GPU is present, else ``cpu``: where models are trained."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")

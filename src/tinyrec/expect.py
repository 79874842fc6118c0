"""Expected ranges: every number a lab reports is checked against ``tests/expected_metrics.toml``.

Each entry of that file names a measured value and gives ``low``, ``high``, the ``notebook`` that
measures it and a one-line ``reason``. :func:`check` raises when a value leaves its range. When the
``TINYREC_RECORD`` environment variable names a file, every check also appends one JSON line
``{"name", "value", "low", "high", "notebook"}`` to it, so a whole run's numbers can be read in one place.
"""

import json
import math
from pathlib import Path

from tinyrec.config import expected_file, read_toml, record_file


def ranges(path=None):
    """All ranges: ``{name: {"low", "high", "notebook", "reason"}}`` from the TOML file."""
    path = Path(path or expected_file())
    if not path.is_file():
        raise FileNotFoundError(f"expected-ranges file {path} not found (set TINYREC_EXPECTED to its path)")
    table = read_toml(path)
    for name, entry in table.items():
        missing = {"low", "high", "notebook", "reason"} - set(entry)
        if missing or not entry["low"] <= entry["high"]:
            raise ValueError(f"{path}: entry {name!r} needs low <= high, notebook and reason; got {entry}")
    return table


def check(name, value, path=None):
    """Return ``value`` if it lies in the expected range of ``name``; raise ``AssertionError`` if not."""
    table = ranges(path)
    if name not in table:
        raise KeyError(f"no expected range for {name!r}: add one to {path or expected_file()}")
    entry = table[name]
    value = float(value) if not isinstance(value, int) else value
    record = record_file()
    if record:
        line = {"name": name, "value": value, "low": entry["low"], "high": entry["high"],
                "notebook": entry["notebook"]}
        with open(record, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")
    if math.isnan(value) or not entry["low"] <= value <= entry["high"]:
        raise AssertionError(
            f"{name} = {value:.6g} is outside its expected range [{entry['low']}, {entry['high']}] "
            f"({entry['reason']}). Find out what changed; if the change is right, update the range "
            "in tests/expected_metrics.toml with the new seed-to-seed spread."
        )
    return value

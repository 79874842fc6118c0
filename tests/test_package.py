"""The shape of the tinyrec package: layers that import one way, small modules, no exercise in the core."""

import ast
from pathlib import Path

import tinyrec

PACKAGE = Path(tinyrec.__file__).parent
# Bottom to top: a module may import only modules before it (DESIGN §2; tinyrec/__init__.py).
LAYERS = ["config", "data", "models", "metrics", "evaluate", "subsample", "popularity", "labels", "distill", "quantize", "prune",
          "share", "train", "cache", "content", "recipes", "parallel", "measure", "pipeline", "adaptive", "zoo",
          "plots", "expect", "exercises"]
MAX_LINES = 400


def module_name(path):
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]  # a subpackage (exercises) counts as one module


def tinyrec_imports(path):
    """The tinyrec modules that ``path`` imports anywhere: at the top, or inside a function or class."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tinyrec":
            parts = node.module.split(".")
            if len(parts) > 1:
                found.add(parts[1])
            else:
                found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[1] for alias in node.names
                         if alias.name.startswith("tinyrec."))
    return found


def modules():
    return [path for path in sorted(PACKAGE.rglob("*.py")) if path.name != "__init__.py" or path.parent != PACKAGE]


def test_every_module_has_a_layer():
    names = {module_name(path) for path in modules()}
    assert names <= set(LAYERS), f"modules without a layer: {names - set(LAYERS)}; add them to LAYERS"


def test_imports_run_one_way_down_the_layers():
    upward = []
    for path in modules():
        name = module_name(path)
        for imported in tinyrec_imports(path) - {name}:
            if imported in LAYERS and LAYERS.index(imported) >= LAYERS.index(name):
                upward.append(f"{path.relative_to(PACKAGE)} imports tinyrec.{imported}")
    assert not upward, "imports against the layers (no circles, not even inside functions):\n" + "\n".join(upward)


def test_the_import_checker_sees_imports_inside_functions(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("from tinyrec import data\n\ndef f():\n    from tinyrec.recipes import trained_ease\n"
                    "    import tinyrec.exercises.ndcg\n")
    assert tinyrec_imports(path) == {"data", "recipes", "exercises"}


def test_modules_stay_readable_in_one_sitting():
    long = {str(path.relative_to(PACKAGE)): n for path in modules()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"

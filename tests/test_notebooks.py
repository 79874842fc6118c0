"""Rules every notebook follows (the notebooks themselves run under nbval: `make notebooks`)."""

import ast
from collections import defaultdict

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from tinyrec.config import PROJECT_ROOT
from tinyrec.exercises.generate import is_student_notebook

NOTEBOOKS = sorted(p for p in [*PROJECT_ROOT.glob("notebooks/*.ipynb"), *PROJECT_ROOT.glob("solutions/*.ipynb")]
                   if not is_student_notebook(p))  # a student notebook is a generated copy of its solution


def code_cells(path):
    return [cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]


def defined_functions(path):
    names = set()
    for cell in code_cells(path):
        tree = ast.parse(TransformerManager().transform_cell(cell.source))
        names.update(node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef)))
    return names


def test_no_two_notebooks_define_a_function_of_the_same_name():
    """A function two notebooks need belongs in tinyrec, written once, with a docstring and a test."""
    where = defaultdict(list)
    for path in NOTEBOOKS:
        for name in defined_functions(path):
            where[name].append(path.relative_to(PROJECT_ROOT).as_posix())
    shared = {name: paths for name, paths in where.items() if len(paths) > 1}
    assert not shared, f"functions defined in several notebooks (move them to tinyrec): {shared}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    dirty = [i for i, cell in enumerate(code_cells(path)) if cell.outputs or cell.execution_count is not None]
    assert not dirty, f"{path.name}: code cells {dirty} have outputs; clear them and commit again"
    source = "\n".join(cell.source for cell in code_cells(path))
    assert "set_num_threads" not in source, (f"{path.name} sets torch's threads by hand: time inside "
                                             "`with measure.single_thread():`, which restores them")

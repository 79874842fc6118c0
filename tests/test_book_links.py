"""Links to exercise pages resolve in both editions of the book.

An exercise page is `solutions/X.ipynb` in the learner edition and its student version `notebooks/X.ipynb`
in the course edition (see tinyrec.exercises); only one of the two is in each edition's table of
contents. Both carry the MyST label of the exercise at the top of their first content cell, e.g.
`(exercise-break-even)=`, so the chapter pages link to exercises by label (`{ref}` or `[text](#label)`),
never by document path: a path names a page that one of the two editions does not have.
"""
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
LABEL = re.compile(r"^\((?P<label>[\w-]+)\)=$")
# A link by path to an exercise page: {doc}`...solutions/X` or {doc}`...notebooks/NN_exercise_X`, or a
# Markdown link [text](...solutions/X.ipynb) / [text](...notebooks/NN_exercise_X.md).
PATH_LINK = re.compile(r"\{doc\}`[^`]*(solutions/|_exercise_)[^`]*`|\]\([^)#]*(solutions/|_exercise_)[^)]*\)")
REF = re.compile(r"\{ref\}`(?:[^`<]*<)?(?P<label>exercise-[\w-]+)>?`|\]\(#(?P<anchor>exercise-[\w-]+)\)")


def exercise_label(path: Path) -> str:
    """The label an exercise notebook must carry: solutions/02_exercise_break_even -> exercise-break-even."""
    return "exercise-" + re.sub(r"^\d+_exercise_", "", path.stem).replace("_", "-")


def first_label(path: Path) -> str | None:
    """The label on the first line of the notebook's first content cell (after the generator's header)."""
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.get("id") != "generated-header"]
    match = LABEL.match(cells[0].source.split("\n", 1)[0]) if cells and cells[0].cell_type == "markdown" else None
    return match and match["label"]


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_each_exercise_carries_its_label_in_both_versions(solution):
    student = ROOT / "notebooks" / solution.name
    assert first_label(solution) == exercise_label(solution), \
        f"{solution.relative_to(ROOT)}: its first cell must start with the line ({exercise_label(solution)})="
    assert first_label(student) == exercise_label(solution), f"{student.relative_to(ROOT)}: run `make exercises`"


def markdown_sources():
    """(name, text) of every chapter page and of every markdown cell of the notebooks in the book."""
    for page in sorted((ROOT / "book").glob("*.md")):
        yield page.relative_to(ROOT), page.read_text(encoding="utf-8")
    for folder in ("notebooks", "solutions"):
        for path in sorted((ROOT / folder).glob("*.ipynb")):
            for cell in nbformat.read(path, as_version=4).cells:
                if cell.cell_type == "markdown":
                    yield f"{path.relative_to(ROOT)} cell {cell.get('id')}", cell.source


def test_exercises_are_linked_by_label_not_by_path():
    labels = {exercise_label(path) for path in SOLUTIONS}
    problems = []
    for name, text in markdown_sources():
        problems += [f"{name}: link by path {m[0]!r}; link with {{ref}}`exercise-...` instead"
                     for m in PATH_LINK.finditer(text)]
        problems += [f"{name}: no exercise carries the label {m['label'] or m['anchor']!r}"
                     for m in REF.finditer(text) if (m["label"] or m["anchor"]) not in labels]
    assert not problems, "\n".join(problems)
    assert any(REF.search(text) for name, text in markdown_sources()), "no link to an exercise found: is REF stale?"

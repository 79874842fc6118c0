"""The student-notebook generator and the two editions of the book (``python -m tinyrec.exercises``).

**One source per exercise.** ``solutions/<name>.ipynb`` holds the exercise *with* its answers, between
nbgrader's markers (nbgrader finds the same regions once its "Create Assignment" toolbar marks those cells
as answers):

* in a code cell, the lines ``### BEGIN SOLUTION`` ... ``### END SOLUTION``; the cell must carry the tag
  ``hide-input`` so that the learner edition shows it in a collapsed toggle (labelled by the notebook
  metadata ``mystnb.code_prompt_show``, e.g. "Show the solution");
* in a markdown cell, the lines ``<!-- BEGIN SOLUTION -->`` ... ``<!-- END SOLUTION -->`` (HTML
  comments, invisible in the rendered page; nbgrader looks for "BEGIN SOLUTION" in any line). Wrap the
  answer in a ``:::{admonition} Answer`` / ``:class: dropdown`` block so the learner edition collapses it;
* a cell tagged ``solution-only`` (e.g. notes for instructors) is left out of the student version.

Each exercise ends with a check from its module in :mod:`tinyrec.exercises` (e.g.
:func:`tinyrec.exercises.ndcg.check_ndcg`), which tells the learner what is wrong.

``make exercises`` (``python -m tinyrec.exercises solutions notebooks``) writes the student version
``notebooks/<name>.ipynb``: each code region becomes ``raise NotImplementedError("Exercise: ...")`` at the
marker's indentation (the ``def`` line and docstring around it stay), each markdown region becomes
"*Write your answer here.*", outputs are cleared, cell metadata keeps only the tags, and a header cell
(tagged ``remove-cell``, so hidden in the HTML) says where the file comes from. The output is a pure
function of the source, byte for byte, so :func:`stale_notebooks` can tell when it is out of date.
A student notebook records its source in ``metadata.tinyrec.generated_from``.

**Which runner executes what.** A student notebook stops at its first ``raise NotImplementedError``
by design, so nothing executes it: ``pytest --nbval-lax notebooks solutions`` skips it (the project's
``conftest.py`` asks :func:`is_student_notebook`) and runs the solution, whose checks must pass; the
course edition of the book renders it unexecuted. The unit tests check that it is up to date, free of
solution code and valid Python.

**Two editions of the book** (DESIGN §6). The learner edition (``make book``, ``_build/html``) is the
project's ``_toc.yml``: its exercise pages are the executed solution notebooks, answers collapsed.
The course edition (``make book EDITION=course``, ``_build/course/_build/html``) is built from the
files :func:`course_edition` writes: the same table of contents with every ``solutions/X`` replaced by
``notebooks/X``, and the same configuration with those notebooks excluded from execution. No solution
notebook is in it, so neither its HTML nor its download buttons contain solution code.
"""

import sys
from pathlib import Path

import nbformat
import yaml

__all__ = ["student_notebook", "generate", "stale_notebooks", "is_student_notebook", "course_edition"]

MARKERS = {  # cell type -> (begin, end); a line containing "BEGIN/END SOLUTION" must be exactly one of these
    "code": ("### BEGIN SOLUTION", "### END SOLUTION"),
    "markdown": ("<!-- BEGIN SOLUTION -->", "<!-- END SOLUTION -->"),
}
STUBS = {
    "code": 'raise NotImplementedError("Exercise: write your solution here")',
    "markdown": "*Write your answer here.*",
}
SOLUTION_ONLY, HIDE_INPUT = "solution-only", "hide-input"
KERNEL_METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def _strip_solutions(cell, where):
    """The cell's source with each solution region replaced by its stub, at the marker's indentation."""
    if cell.cell_type not in MARKERS:
        if "BEGIN SOLUTION" in cell.source or "END SOLUTION" in cell.source:
            raise ValueError(f"{where}: solution markers are allowed only in code and markdown cells")
        return cell.source
    begin, end = MARKERS[cell.cell_type]
    lines, inside, has_solution = [], False, False
    for number, line in enumerate(cell.source.split("\n"), start=1):
        marker = line.strip()
        if marker == begin and not inside:
            inside = has_solution = True
            lines.append(line[: len(line) - len(line.lstrip())] + STUBS[cell.cell_type])
        elif marker == end and inside:
            inside = False
        elif "BEGIN SOLUTION" in line or "END SOLUTION" in line:
            raise ValueError(f"{where}, line {number}: unexpected {marker!r}; a {cell.cell_type} cell "
                             f"marks solutions with {begin!r} ... {end!r}, balanced and not nested")
        elif not inside:
            lines.append(line)
    if inside:
        raise ValueError(f"{where}: {begin!r} without a matching {end!r}")
    if has_solution and cell.cell_type == "code" and HIDE_INPUT not in _tags(cell):
        raise ValueError(f"{where}: a solution cell needs the tag {HIDE_INPUT!r} "
                         "(so that the learner edition shows it collapsed)")
    return "\n".join(lines)


def student_notebook(solution):
    """The student version of the solution notebook at path ``solution`` (an ``nbformat`` notebook)."""
    solution = Path(solution)
    source = f"{solution.parent.name}/{solution.name}"
    nb = nbformat.read(solution, as_version=4)
    header = nbformat.v4.new_markdown_cell(
        f"*Generated from `{source}` by `make exercises`: do not edit this file, edit that notebook and "
        "run `make exercises`. Learners: replace each `raise NotImplementedError(...)` with your code, "
        "then run the check below it.*",
        id="generated-header", metadata={"tags": ["remove-cell"]})
    cells = [header]
    for index, cell in enumerate(nb.cells):
        if SOLUTION_ONLY in _tags(cell):
            continue
        cell_id = cell.get("id", f"cell-{index}")
        text = _strip_solutions(cell, f"{solution} cell {index} (id {cell_id})")
        tags = [tag for tag in _tags(cell) if tag != HIDE_INPUT]
        new = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
               "raw": nbformat.v4.new_raw_cell}[cell.cell_type]
        extra = {"attachments": cell.attachments} if "attachments" in cell else {}
        cells.append(new(text, id=cell_id, metadata={"tags": tags} if tags else {}, **extra))
    metadata = {**KERNEL_METADATA, "tinyrec": {"generated_from": source}}
    return nbformat.v4.new_notebook(cells=cells, metadata=metadata)


def _text(nb):
    """What ``nbformat.write`` writes (json, indent 1, sorted keys), as a string."""
    return nbformat.writes(nb) + "\n"


def is_student_notebook(path):
    """True for a notebook written by the generator (it records its source in its metadata)."""
    return "generated_from" in nbformat.read(path, as_version=4).metadata.get("tinyrec", {})


def _plan(solutions_dir, notebooks_dir):
    """``{student path: text it should have, or None to delete it}`` for every student notebook."""
    solutions_dir, notebooks_dir = Path(solutions_dir), Path(notebooks_dir)
    plan = {}
    for solution in sorted(solutions_dir.glob("*.ipynb")):
        target = notebooks_dir / solution.name
        if target.exists() and not is_student_notebook(target):
            raise ValueError(f"{target} exists and was not generated from {solution}: rename one of them")
        plan[target] = _text(student_notebook(solution))
    for orphan in sorted(notebooks_dir.glob("*.ipynb")):
        if orphan not in plan and is_student_notebook(orphan):
            plan[orphan] = None  # its solution notebook was deleted or renamed
    return plan


def _current(path):
    return path.read_text(encoding="utf-8") if path.exists() else None


def stale_notebooks(solutions_dir, notebooks_dir):
    """Paths (str) of the student notebooks ``make exercises`` would write or delete: missing, out of
    date, or orphaned (generated from a solution notebook that no longer exists)."""
    return [str(path) for path, text in _plan(solutions_dir, notebooks_dir).items() if _current(path) != text]


def generate(solutions_dir, notebooks_dir):
    """Write every student notebook and delete orphaned ones; returns the paths (str) it changed."""
    changed = []
    for path, text in _plan(solutions_dir, notebooks_dir).items():
        if _current(path) == text:
            continue
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        changed.append(str(path))
    return changed


def _course_toc(node):
    """A table of contents (or part of one) with every ``solutions/X`` replaced by ``notebooks/X``."""
    if isinstance(node, list):
        return [_course_toc(item) for item in node]
    if isinstance(node, dict):
        return {key: _course_toc(value) for key, value in node.items()}
    if isinstance(node, str) and node.startswith("solutions/"):
        return "notebooks/" + node.removeprefix("solutions/")
    return node


def course_edition(out_dir, root="."):
    """Write the course edition's ``_toc.yml`` and ``_config.yml`` into ``out_dir``; returns their paths.

    Build it with ``jupyter-book build ROOT --toc OUT/_toc.yml --config OUT/_config.yml
    --path-output OUT``. The student notebooks are not executed; every other notebook shares the learner
    edition's execution cache (``ROOT/_build/.jupyter_cache``), so it is not executed twice.
    """
    root, out_dir = Path(root).resolve(), Path(out_dir)
    stale = stale_notebooks(root / "solutions", root / "notebooks")
    if stale:
        raise RuntimeError(f"student notebooks out of date: {', '.join(stale)}; run `make exercises`")
    toc = _course_toc(yaml.safe_load((root / "_toc.yml").read_text()))
    config = yaml.safe_load((root / "_config.yml").read_text())
    execute = config.setdefault("execute", {})
    execute["exclude_patterns"] = execute.get("exclude_patterns", []) + [
        f"notebooks/{solution.name}" for solution in sorted((root / "solutions").glob("*.ipynb"))]
    execute["cache"] = str(root / "_build" / ".jupyter_cache")
    out_dir.mkdir(parents=True, exist_ok=True)
    header = "# The course edition, generated by `python -m tinyrec.exercises course-edition`: do not edit.\n"
    paths = out_dir / "_toc.yml", out_dir / "_config.yml"
    for path, data in zip(paths, (toc, config)):
        path.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return paths


def main(argv=None):
    """``python -m tinyrec.exercises SOLUTIONS NOTEBOOKS``: write the student notebooks;
    ``python -m tinyrec.exercises course-edition OUT``: write the course edition's toc and config."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "course-edition":
        for path in course_edition(args[1]):
            print(f"wrote {path}")
    elif len(args) == 2:
        changed = generate(*args)
        print("\n".join(f"updated {path}" for path in changed) or "student notebooks are up to date")
    else:
        sys.exit(main.__doc__)


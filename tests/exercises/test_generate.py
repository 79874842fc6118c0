"""tinyrec.exercises.generate: the student-notebook generator, staleness, and the two editions."""

import copy
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
import yaml
from IPython.core.inputtransformer2 import TransformerManager
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from tinyrec.exercises.generate import MARKERS, course_edition, generate, is_student_notebook, stale_notebooks

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS, NOTEBOOKS = ROOT / "solutions", ROOT / "notebooks"
STUDENT_NOTEBOOKS = [NOTEBOOKS / path.name for path in sorted(SOLUTIONS.glob("*.ipynb"))]


def cells(*cells):
    """A notebook of copies of ``cells`` with fixed ids, as the generator's input."""
    return new_notebook(cells=[nbformat.from_dict({**copy.deepcopy(cell), "id": f"c{i}"})
                               for i, cell in enumerate(cells)])


SOLVED = new_code_cell('def double(x):\n    """Twice x."""\n    ### BEGIN SOLUTION\n    y = 2 * x\n'
                       '    return y\n    ### END SOLUTION', metadata={"tags": ["hide-input", "keep-me"]},
                       execution_count=3, outputs=[new_output("stream", text="secret output\n")])


def write_solutions(folder, **notebooks):
    folder.mkdir(exist_ok=True)
    for name, nb in notebooks.items():
        nbformat.write(nb, folder / f"{name}.ipynb")
    return folder


# ----------------------------------------------------------------------------------------------------------
# The generator, on synthetic notebooks


def test_generator_replaces_solutions_and_keeps_the_rest(tmp_path):
    solutions = write_solutions(tmp_path / "solutions", ex=cells(
        new_markdown_cell("# Title"),
        SOLVED,
        new_markdown_cell("Why?\n<!-- BEGIN SOLUTION -->\nBecause 42.\n<!-- END SOLUTION -->\nNext."),
        new_markdown_cell("Instructor notes", metadata={"tags": ["solution-only"]}),
        new_code_cell("check(double)")))
    assert generate(solutions, tmp_path / "notebooks") == [str(tmp_path / "notebooks" / "ex.ipynb")]
    nb = nbformat.read(tmp_path / "notebooks" / "ex.ipynb", as_version=4)
    header, title, code, markdown, check = nb.cells
    assert "Generated from `solutions/ex.ipynb` by `make exercises`" in header.source
    assert header.metadata.tags == ["remove-cell"]
    assert title.source == "# Title" and check.source == "check(double)"
    assert code.source == ('def double(x):\n    """Twice x."""\n'
                           '    raise NotImplementedError("Exercise: write your solution here")')
    assert code.outputs == [] and code.execution_count is None
    assert code.metadata == {"tags": ["keep-me"]}  # hide-input would fold the student's own cell
    assert markdown.source == "Why?\n*Write your answer here.*\nNext."
    assert "Instructor" not in nbformat.writes(nb)
    assert nb.metadata.tinyrec.generated_from == "solutions/ex.ipynb"
    assert is_student_notebook(tmp_path / "notebooks" / "ex.ipynb")
    nbformat.validate(nb)


def test_generator_output_is_byte_for_byte_deterministic(tmp_path):
    solutions = write_solutions(tmp_path / "solutions", ex=cells(SOLVED))
    generate(solutions, tmp_path / "a")
    generate(solutions, tmp_path / "b")
    first = (tmp_path / "a" / "ex.ipynb").read_bytes()
    assert first == (tmp_path / "b" / "ex.ipynb").read_bytes()
    nb = nbformat.read(tmp_path / "a" / "ex.ipynb", as_version=4)
    assert first.decode() == nbformat.writes(nb) + "\n"  # exactly what nbformat.write writes
    assert generate(solutions, tmp_path / "a") == []  # nothing to do the second time


@pytest.mark.parametrize("source, cell_type, tags, error", [
    ("### BEGIN SOLUTION\nx = 1", "code", ["hide-input"], "'### BEGIN SOLUTION' without a matching"),
    ("x = 1\n### END SOLUTION", "code", ["hide-input"], "line 2: unexpected '### END SOLUTION'"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "code", ["hide-input"], "not nested"),
    ("# BEGIN SOLUTION\nx = 1\n# END SOLUTION", "code", ["hide-input"], "unexpected '# BEGIN SOLUTION'"),
    ("<!-- BEGIN SOLUTION -->\nAnswer.", "markdown", [], "'<!-- BEGIN SOLUTION -->' without a matching"),
    ("### BEGIN SOLUTION\nAnswer.\n### END SOLUTION", "markdown", [], "unexpected '### BEGIN SOLUTION'"),
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "code", [], "needs the tag 'hide-input'"),
])
def test_generator_rejects_malformed_markers(tmp_path, source, cell_type, tags, error):
    new = new_code_cell if cell_type == "code" else new_markdown_cell
    solutions = write_solutions(tmp_path / "solutions", ex=cells(new(source, metadata={"tags": tags})))
    with pytest.raises(ValueError, match="ex.ipynb cell 0 .*" + error.replace("(", r"\(")):
        generate(solutions, tmp_path / "notebooks")
    assert not (tmp_path / "notebooks" / "ex.ipynb").exists()


def test_generator_never_overwrites_a_hand_written_notebook(tmp_path):
    solutions = write_solutions(tmp_path / "solutions", lab=cells(SOLVED))
    write_solutions(tmp_path / "notebooks", lab=cells(new_code_cell("print('my lab')")))
    with pytest.raises(ValueError, match="was not generated from"):
        generate(solutions, tmp_path / "notebooks")


def test_stale_notebooks_reports_missing_changed_and_orphaned_files(tmp_path):
    solutions = write_solutions(tmp_path / "solutions", a=cells(SOLVED), b=cells(SOLVED), c=cells(SOLVED))
    notebooks = tmp_path / "notebooks"
    generate(solutions, notebooks)
    write_solutions(notebooks, lab=cells(new_code_cell("1")))  # a hand-written lab: never stale
    assert stale_notebooks(solutions, notebooks) == []
    (notebooks / "a.ipynb").unlink()  # missing
    edited = notebooks / "b.ipynb"
    edited.write_text(edited.read_text().replace("Twice", "Thrice"))
    (solutions / "c.ipynb").unlink()  # orphaned
    expected = [str(notebooks / f"{name}.ipynb") for name in "abc"]
    assert stale_notebooks(solutions, notebooks) == expected
    assert generate(solutions, notebooks) == expected
    assert stale_notebooks(solutions, notebooks) == []
    assert sorted(path.name for path in notebooks.iterdir()) == ["a.ipynb", "b.ipynb", "lab.ipynb"]


# ----------------------------------------------------------------------------------------------------------
# The project's exercise notebooks


def test_student_notebooks_are_up_to_date():
    stale = stale_notebooks(SOLUTIONS, NOTEBOOKS)
    names = ", ".join(str(Path(path).relative_to(ROOT)) for path in stale)
    assert not stale, f"student notebooks missing, out of date or orphaned: {names}; run `make exercises`"


def test_solution_notebooks_are_committed_without_outputs():
    for path in sorted(SOLUTIONS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        dirty = [index for index, cell in enumerate(nb.cells)
                 if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
        assert not dirty, f"{path.relative_to(ROOT)}: cells {dirty} have outputs; clear them and commit again"


@pytest.mark.parametrize("path", STUDENT_NOTEBOOKS, ids=lambda path: path.name)
def test_student_notebook_has_no_solution_and_is_valid_python(path):
    assert "BEGIN SOLUTION" not in path.read_text()
    nb = nbformat.read(path, as_version=4)
    assert "raise NotImplementedError" in nbformat.writes(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            compile(TransformerManager().transform_cell(cell.source), f"{path.name}:{cell.id}", "exec")


@pytest.mark.parametrize("path", STUDENT_NOTEBOOKS, ids=lambda path: path.name)
def test_student_notebook_text_uses_no_glued_number(path):
    """The course edition renders the student notebooks unexecuted: a glued number outside the answer is missing."""
    nb = nbformat.read(path, as_version=4)
    glued = [cell.id for cell in nb.cells if cell.cell_type == "markdown" and "{glue" in cell.source]
    assert not glued, (f"{path.name}: markdown cells {glued} glue numbers, which the unexecuted course edition "
                       "does not have; move them inside the <!-- BEGIN SOLUTION --> block of the solution")


def test_nbval_runs_the_solutions_and_skips_the_student_notebooks():
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "--nbval-lax", "notebooks", "solutions",
         "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for path in STUDENT_NOTEBOOKS:
        assert f"solutions/{path.name}::" in collected
        assert f"notebooks/{path.name}::" not in collected


# ----------------------------------------------------------------------------------------------------------
# The two editions, built from a small copy of the project (the configuration, the exercises, a root page).
# Building them takes minutes: those tests are marked `book` and run with the book, not with the unit tests.


def test_course_edition_files(tmp_path):
    toc, config = course_edition(tmp_path, ROOT)
    files = str(yaml.safe_load(toc.read_text()))
    assert "solutions/" not in files
    for path in STUDENT_NOTEBOOKS:
        assert f"notebooks/{path.stem}" in files
        assert f"notebooks/{path.name}" in yaml.safe_load(config.read_text())["execute"]["exclude_patterns"]


class _Text(HTMLParser):
    """A page's text (code as written, without the highlighting markup) and the part inside <details>."""

    def __init__(self):
        super().__init__()
        self.text, self.folded, self.depth = [], [], 0

    def handle_starttag(self, tag, attrs):
        if tag == "details":
            self.depth += 1

    def handle_endtag(self, tag):
        if tag == "details":
            self.depth -= 1

    def handle_data(self, data):
        self.text.append(data)
        if self.depth:
            self.folded.append(data)


def site_text(html_dir):
    """``(all text, folded text)`` of the built site's pages and downloadable sources."""
    text, folded = [], []
    for path in sorted(html_dir.rglob("*")):
        if "_static" in path.parts or path.suffix not in {".html", ".ipynb", ".md", ".txt", ".js"}:
            continue
        if path.suffix == ".html":
            parser = _Text()
            parser.feed(path.read_text(errors="replace"))
            text += parser.text
            folded += parser.folded
        elif path.suffix == ".ipynb":
            text += [cell.source for cell in nbformat.read(path, as_version=4).cells]
        else:
            text.append(path.read_text(errors="replace"))
    return "".join(text), "".join(folded)


def solution_lines(cell_type):
    """Distinctive lines of the solution regions in ``cell_type`` cells: on no line outside the solution
    regions, at least 8 characters long, and not MyST markup such as ``:class: dropdown``."""
    begin, end = MARKERS[cell_type]
    inside_lines, outside_lines = set(), set()
    for path in sorted(SOLUTIONS.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            inside = False
            for line in cell.source.splitlines():
                line = line.strip()
                if cell.cell_type == cell_type and line in (begin, end):
                    inside = line == begin
                elif inside:
                    inside_lines.add(line)
                else:
                    outside_lines.add(line)
    return {line for line in inside_lines - outside_lines if len(line) >= 8 and not line.startswith(":")}


def build(root, *options):
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    run = subprocess.run([jupyter_book, "build", ".", "-W", "-n", "--keep-going", *options],
                         cwd=root, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]


@pytest.fixture(scope="module")
def editions(tmp_path_factory):
    """``{"learner": html dir, "course": html dir}`` of a small copy of the project with its exercises."""
    root = tmp_path_factory.mktemp("book")
    shutil.copy(ROOT / "_config.yml", root)
    (root / "book" / "_static").mkdir(parents=True)
    for name in ("references.bib", "references.md"):  # the exercises may cite: the bibliography page
        shutil.copy(ROOT / "book" / name, root / "book")
    (root / "book" / "intro.md").write_text("# Exercises only\n")
    shutil.copytree(SOLUTIONS, root / "solutions")
    (root / "notebooks").mkdir()
    for path in STUDENT_NOTEBOOKS:
        shutil.copy(path, root / "notebooks")
    chapters = [{"file": f"solutions/{path.stem}"} for path in STUDENT_NOTEBOOKS]
    toc = {"format": "jb-book", "root": "book/intro",
           "parts": [{"caption": "Exercises", "chapters": chapters},
                     {"caption": "Appendices", "chapters": [{"file": "book/references"}]}]}
    (root / "_toc.yml").write_text(yaml.safe_dump(toc))
    build(root)
    toc, config = course_edition(root / "_build" / "course", root)
    build(root, "--path-output", "_build/course", "--toc", str(toc), "--config", str(config))
    return {"learner": root / "_build" / "html", "course": root / "_build" / "course" / "_build" / "html"}


@pytest.mark.book
def test_learner_edition_shows_solutions_folded(editions):
    """The control for the next test: the solution code is found, folded, when it is there."""
    code = solution_lines("code")
    assert code, "no solution code found in solutions/"
    text, folded = site_text(editions["learner"])
    assert "Correct!" in text  # the solution notebooks ran, and passed their checks
    assert {line for line in code if line not in folded} == set()


@pytest.mark.book
def test_course_edition_contains_no_solution(editions):
    secrets = solution_lines("code") | solution_lines("markdown")
    text, _ = site_text(editions["course"])
    assert {line for line in secrets if line in text} == set()
    assert not (editions["course"] / "solutions").exists()
    assert "NotImplementedError" in text  # the student notebooks are there

"""The PDF edition (`make pdf`, tools/book_pdf.py): the whole book, Chinese in a CJK font, no blank page.

The checks read PDFs with poppler-utils (pdfinfo, pdffonts, pdftoppm, pdftotext, pdfimages), which
`make pdf` installs as root. The book's PDF is the one TINYREC_BOOK_PDF names (`make html-check` sets it
after `make pdf`). A small book with Chinese text, math, a figure, two kinds of folded answer and a hidden
code cell, built and printed here as `make pdf` does, shows that each of them reaches the paper; a PDF
with a blank page shows that the blank-page check catches one.
"""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("book_pdf", ROOT / "tools" / "book_pdf.py")
book_pdf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(book_pdf)

# The book printed 408 pages on 2026-12-07 with its notebooks not executed (text and code, no outputs or
# figures; each chapter 55-74 pages, the appendices 84); executed, it has more. Under 300 pages, chapters
# or the appendices are missing.
MIN_PAGES = 300
DPI = 20  # pages rendered at 20 dpi: 165 x 234 pixels, enough to see one line of text
INK = 250  # a pixel darker than this (0 is black, 255 white) is ink
# Pixels of ink a page needs above its footer: the two words "First page." have 42, the book's emptiest
# page (unexecuted, 2026-12-07) had 429, a page with one "." has 1.
MIN_INK = 10
BODY = 0.93  # the part of a page above the footer: a page number alone is a blank page
SCREEN_ONLY = "Skip to main content"  # the theme's first link on screen: on paper, the navigation is left out
POPPLER = ("The PDF checks need poppler-utils (pdfinfo, pdffonts, pdftoppm, pdftotext, pdfimages): install "
           "it (as root: apt-get install poppler-utils; macOS: brew install poppler)")


def poppler(tool, *args) -> str:
    """What one poppler-utils tool prints; fails saying what to install when it is missing."""
    if shutil.which(tool) is None:
        pytest.fail(POPPLER, pytrace=False)
    return subprocess.run([tool, *map(str, args)], capture_output=True, text=True, check=True).stdout


def page_count(pdf) -> int:
    return int(re.search(r"^Pages:\s+(\d+)$", poppler("pdfinfo", pdf), re.M)[1])


def image_count(pdf) -> int:
    """Images drawn in `pdf` (pdfimages lists one row per image per page, after two header lines)."""
    return len(poppler("pdfimages", "-list", pdf).splitlines()[2:])


# A row of pdffonts: name, type (may contain spaces), encoding, emb, sub, uni, object ID.
FONT_ROW = re.compile(r"^(?P<name>\S+)\s+.+?\s+\S+\s+(?P<emb>yes|no)\s+(yes|no)\s+(yes|no)\s+\d+\s+\d+\s*$")


def embedded_fonts(pdf) -> list[str]:
    """Names of the fonts embedded in `pdf`, without their subset prefix (ABCDEF+)."""
    rows = [FONT_ROW.match(line) for line in poppler("pdffonts", pdf).splitlines()[2:]]
    return [row["name"].partition("+")[2] or row["name"] for row in rows if row and row["emb"] == "yes"]


def squashed(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def fonts_of_family(pdf, family) -> list[str]:
    """The embedded fonts of `family`: "WenQuanYi Micro Hei" is embedded as WenQuanYiMicroHei."""
    return [name for name in embedded_fonts(pdf) if squashed(name).startswith(squashed(family))]


def blank_pages(pdf, folder: Path) -> list[int]:
    """Numbers of the pages of `pdf` with fewer than MIN_INK pixels of ink above the footer, at DPI."""
    poppler("pdftoppm", "-r", DPI, "-gray", pdf, folder / "page")
    blank = []
    for path in folder.glob("page-*.pgm"):
        pixels = np.asarray(Image.open(path))
        if (pixels[: int(len(pixels) * BODY)] < INK).sum() < MIN_INK:
            blank.append(int(path.stem.rpartition("-")[2]))
    return sorted(blank)


def figures_drawn() -> int:
    """plt.show() calls in the notebooks of the book's _toc.yml (as test_rendered_book.py counts them)."""
    files, stack = [], [yaml.safe_load((ROOT / "_toc.yml").read_text())]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            files += [node["file"]] if "file" in node else []
            stack += list(node.values())
        elif isinstance(node, list):
            stack += node
    notebooks = [ROOT / f"{name}.ipynb" for name in files if (ROOT / f"{name}.ipynb").is_file()]
    return sum(path.read_text(encoding="utf-8").count("plt.show()") for path in notebooks)


def assert_cjk_embedded(pdf):
    family = book_pdf.cjk_font()
    assert fonts_of_family(pdf, family), (f"{pdf}: no embedded font of {family}, the CJK font the PDF sets "
                                          f"Chinese in; embedded: {', '.join(embedded_fonts(pdf))}")


def assert_no_blank_page(pdf, folder):
    blank = blank_pages(pdf, folder)
    assert not blank, f"{pdf}: blank pages (fewer than {MIN_INK} pixels of ink at {DPI} dpi): {blank}"


# ----------------------------------------------------------------------------------------------------------
# The book's PDF


@pytest.fixture(scope="module")
def book_pdf_file() -> Path:
    if not os.environ.get("TINYREC_BOOK_PDF"):
        pytest.skip("TINYREC_BOOK_PDF is not set: `make html-check` sets it after `make pdf` (learner edition)")
    path = Path(os.environ["TINYREC_BOOK_PDF"])
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make pdf` first")
    return path


def test_book_pdf_holds_the_whole_book(book_pdf_file):
    pages, images, drawn = page_count(book_pdf_file), image_count(book_pdf_file), figures_drawn()
    assert pages >= MIN_PAGES, f"{book_pdf_file} has {pages} pages, fewer than {MIN_PAGES}: parts are missing"
    assert images >= drawn, f"{book_pdf_file} has {images} images; the book's notebooks draw {drawn} figures"
    assert SCREEN_ONLY not in poppler("pdftotext", book_pdf_file, "-"), "the navigation is in the PDF"


def test_book_pdf_sets_chinese_in_a_cjk_font(book_pdf_file):
    assert_cjk_embedded(book_pdf_file)


def test_book_pdf_has_no_blank_page(book_pdf_file, tmp_path):
    assert_no_blank_page(book_pdf_file, tmp_path)


# ----------------------------------------------------------------------------------------------------------
# A small book, built and printed as `make pdf` does (about 20 s: marked `book`)

INTRO = r"""# A small book

Distillation 知识蒸馏 trains a small student. Inline math: $p_i = \mathrm{softmax}(z/T)_i$.

$$
\mathcal{L} = \alpha\,T^2\,\mathrm{KL}\big(\mathrm{softmax}(z_t/T)\,\|\,\mathrm{softmax}(z_s/T)\big)
$$

```{figure} bars.png
Three bars.
```

:::{admonition} 30-second answer
:class: dropdown
The folded answer: 温度越高，分布越平。
:::

:::{dropdown} A sphinx-design dropdown
Its folded text.
:::
"""
LAB = new_notebook(cells=[
    new_markdown_cell("# A lab\n\n中文段落：压缩模型。"),
    new_code_cell('import matplotlib.pyplot as plt\n\nprint("the hidden cell ran")\nplt.plot([1, 2, 3], [3, 1, 2])\n'
                  "plt.show()", metadata={"tags": ["hide-input"]})],
    metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


def run(root, *command) -> str:
    done = subprocess.run([str(part) for part in command], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(map(str, command))} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def small_book(tmp_path_factory):
    """``(PDF, log of its singlehtml build)`` of a two-page book: the HTML build, then `make pdf`'s steps."""
    mathjax = ROOT / "book" / "_static" / "mathjax"
    if not (mathjax / "tex-chtml.js").is_file():
        pytest.fail(f"{mathjax} is missing: run `make mathjax` first")
    root = tmp_path_factory.mktemp("book")
    shutil.copy(ROOT / "_config.yml", root)
    (root / "book" / "_static").mkdir(parents=True)
    (root / "book" / "_static" / "mathjax").symlink_to(mathjax)
    shutil.copy(ROOT / "book" / "references.bib", root / "book")
    (root / "book" / "intro.md").write_text(INTRO, encoding="utf-8")
    nbformat.write(LAB, root / "book" / "lab.ipynb")
    bars = Image.new("RGB", (300, 200), "white")
    for i, height in enumerate([150, 60, 110]):
        ImageDraw.Draw(bars).rectangle([40 + 80 * i, 190 - height, 100 + 80 * i, 190], fill="steelblue")
    bars.save(root / "book" / "bars.png")
    toc = {"format": "jb-book", "root": "book/intro", "chapters": [{"file": "book/lab"}]}
    (root / "_toc.yml").write_text(yaml.safe_dump(toc))
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    tool, out = ROOT / "tools" / "book_pdf.py", root / "_build" / "pdf"
    run(root, jupyter_book, "build", ".", "-W", "-n", "--keep-going")  # `make book`: executes the notebook
    run(root, sys.executable, tool, "config", ".", out)
    log = run(root, jupyter_book, "build", ".", "-W", "-n", "--keep-going", "--builder", "singlehtml",
              "--path-output", out, "--config", out / "_config.yml")
    run(root, sys.executable, tool, "print", out / "_build" / "singlehtml", out / "book.pdf")
    return out / "book.pdf", log


@pytest.mark.book
def test_small_book_pdf_reuses_the_html_builds_execution(small_book):
    """The notebook ran in the HTML build; the PDF build takes its outputs from the cache."""
    _, log = small_book
    assert "Using jupyter-cache at" in log and "Executing notebook" not in log, log[-2000:]


@pytest.mark.book
def test_small_book_pdf_prints_everything_unfolded(small_book):
    pdf, _ = small_book
    text = poppler("pdftotext", pdf, "-")
    for expected in ["A small book", "知识蒸馏", "The folded answer: 温度越高，分布越平。", "Its folded text.",
                     "中文段落：压缩模型。", 'print("the hidden cell ran")', "the hidden cell ran"]:
        assert expected in text, f"{expected!r} is not in the PDF:\n{text}"
    assert "\\mathrm" not in text and "$$" not in text, f"raw TeX in the PDF:\n{text}"
    assert SCREEN_ONLY not in text
    assert page_count(pdf) == 2  # the lab starts a page
    assert image_count(pdf) == 2  # the figure and the plot (and no shadow drawn as an image)


@pytest.mark.book
def test_small_book_pdf_sets_chinese_in_a_cjk_font(small_book):
    assert_cjk_embedded(small_book[0])


@pytest.mark.book
def test_small_book_pdf_has_no_blank_page(small_book, tmp_path):
    assert_no_blank_page(small_book[0], tmp_path)


# ----------------------------------------------------------------------------------------------------------
# The checks and the tool, without a book


def test_blank_page_check_catches_a_blank_page(browser, tmp_path):
    """Page 2 is empty but for its footer (the page number): it is reported, and only it."""
    page = browser.new_page()
    page.set_content('<p>First page.</p><div style="break-before: page"></div>'
                     '<p style="break-before: page">Third page.</p>')
    page.pdf(path=tmp_path / "blank.pdf", **book_pdf.PDF_OPTIONS)
    page.close()
    assert page_count(tmp_path / "blank.pdf") == 3
    assert blank_pages(tmp_path / "blank.pdf", tmp_path) == [2]


def test_config_adds_the_html_execution_cache_and_the_extension(tmp_path):
    (tmp_path / "_build" / ".doctrees").mkdir(parents=True)  # a previous PDF build: removed
    config = yaml.safe_load(book_pdf.write_config(ROOT, tmp_path).read_text(encoding="utf-8"))
    assert not (tmp_path / "_build").exists()
    assert config["execute"]["cache"] == str(ROOT / "_build" / ".jupyter_cache")
    assert config["sphinx"]["local_extensions"] == {"singlehtml_nodes": str(ROOT / "tools")}
    project = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    del config["execute"]["cache"], config["sphinx"]["local_extensions"]
    assert config == project  # nothing else changed


def test_cjk_font_prefers_the_font_make_pdf_installs(monkeypatch):
    monkeypatch.setattr(book_pdf, "system_cjk_families", lambda: ["AR PL UMing CN", "WenQuanYi Micro Hei"])
    assert book_pdf.cjk_font("linux") == "WenQuanYi Micro Hei"
    monkeypatch.setattr(book_pdf, "system_cjk_families", lambda: ["AR PL UMing CN"])
    assert book_pdf.cjk_font("linux") == "AR PL UMing CN"
    assert book_pdf.cjk_font("darwin") == "PingFang SC"  # macOS's own


def test_pip_font_is_the_pinned_font_and_fontconfig_finds_it(tmp_path, monkeypatch):
    """Without root and without a CJK font (Linux): the font comes from PyPI, checked, known to fontconfig."""
    if shutil.which("fc-list") is None:
        pytest.skip("fontconfig's fc-list is not installed")
    monkeypatch.delenv("FONTCONFIG_FILE", raising=False)  # pip_font sets it: restored after the test
    assert book_pdf.pip_font(tmp_path) == "WenQuanYi Micro Hei"
    listed = subprocess.run(["fc-list", ":lang=zh", "file", "family"], capture_output=True, text=True,
                            env=os.environ, check=True).stdout
    assert f"{tmp_path / 'wqy-microhei.ttc'}: WenQuanYi Micro Hei" in listed, listed

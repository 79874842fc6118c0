"""The PDF edition: the book's single-page HTML, printed by the headless Chromium of the HTML checks.

    python tools/book_pdf.py config ROOT OUT     writes OUT/_config.yml, ROOT's configuration for the PDF
    python tools/book_pdf.py print SITE PDF      prints the single page in SITE (its math, figures and answers)

`make pdf` runs the first, then `jupyter-book build ROOT --builder singlehtml --path-output OUT --config
OUT/_config.yml`, then the second with SITE = OUT/_build/singlehtml. The configuration is ROOT's
_config.yml with two additions: the HTML build's execution cache (ROOT/_build/.jupyter_cache), so that no
notebook runs again, and the extension tools/singlehtml_nodes.py. The PDF build keeps its doctrees under
OUT, away from the HTML build's, and starts from none each time (reading pages from the cache takes
seconds), so that the PDF always has the outputs the cache holds now.

Printing opens the page from disk with the network off, opens every collapsed answer, solution and hidden
code cell, waits until MathJax has typeset every formula and every image has loaded (a problem stops it,
named), leaves out the navigation, and sets Chinese text in a real CJK font (`cjk_font`).
"""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import yaml
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "html"))
import chromium  # noqa: E402  tests/html/chromium.py: the browser of the HTML checks, launched as they do

TOOLS = Path(__file__).resolve().parent
NON_LOCAL = re.compile(r"^(?!(file|data|blob|about):)")  # URLs that would leave the machine
MATH_TIMEOUT_MS = 600_000  # the whole book is one page: with its ~1,000 formulas it printed in 30 s here

# Chinese text: the first of these the system has (Debian's fonts-wqy-microhei, which `make pdf` installs
# as root, is the first), else any CJK font fontconfig knows; macOS always has PingFang SC.
PREFERRED_CJK = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC", "Droid Sans Fallback"]
MACOS_CJK = "PingFang SC"
# Else, without root, the same font from PyPI: this wheel ships Debian's wqy-microhei.ttc byte for byte
# (fonts-wqy-microhei 0.2.0-beta-3.1, Apache 2.0 or GPLv3 with the font exception); the SHA-256 checks it.
PIP_FONT = "paperang-p2-fonts-cjk==0.1.0", "paperang_p2_fonts_cjk/fonts/wqy-microhei.ttc", "WenQuanYi Micro Hei"
PIP_FONT_SHA256 = "2420e8078af796b19a3f6ef13de527a1a91c1e7171eea115926c614ced1009b3"
FONT_DIR = ROOT / "_build" / "fonts"
FONTS_CONF = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>
  <dir>{folder}</dir>
  <cachedir>{folder}/cache</cachedir>
</fontconfig>
"""
INSTALL_CJK = ("install a CJK font (Debian/Ubuntu: apt-get install fonts-wqy-microhei; Fedora: dnf install "
               "wqy-microhei-fonts)")

# Paper is not a screen: no navigation, header, buttons, shadows or scroll boxes. The theme's print title
# (#jb-print-docs-body) heads the first page; every document after the first (a chapter, a lab, an
# exercise) starts a page. singlehtml marks each with an empty span#document-NAME just before its section:
# the break goes on that span, made a block. (With the break on the section instead, Chromium left a page
# blank wherever the content before it filled its page exactly: the empty inline span took a page.)
PRINT_CSS = """
.bd-header, .bd-header-article, .bd-sidebar-primary, .bd-sidebar-secondary, .bd-footer, .bd-footer-article,
.bd-footer-content, .prev-next-area, #pst-back-to-top, .skip-link, .toggle-button, a.headerlink,
details.hide > summary, #jb-print-toc { display: none !important; }
.bd-main .bd-content { margin-left: 0 !important; }
.bd-main .bd-content .bd-article-container .bd-article { max-width: none !important; padding: 0 !important; }
span[id^="document-"] { display: block; break-before: page; }
html { --pst-color-shadow: transparent !important; }
* { transition: none !important; animation: none !important; box-shadow: none !important; }
pre { white-space: pre-wrap !important; overflow: visible !important; }
div.cell_output, div.output, .highlight { max-height: none !important; overflow: visible !important; }
img, figure, .admonition-title { break-inside: avoid; }
div.cell_output table { font-size: 0.6em; }
div.cell_output table td, div.cell_output table th { padding: 0.1em 0.3em !important; }
"""
FOOTER = ('<div style="font-size: 8px; width: 100%; text-align: center; color: #555;">'
          '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')
PRINTABLE = {"width": 680, "height": 960}  # A4 within the margins below, in CSS pixels (96 per inch)
# A4, page numbers in the footer, PDF bookmarks from the headings, tagged (accessible) PDF.
PDF_OPTIONS = dict(format="A4", print_background=True, outline=True, tagged=True,
                   margin={"top": "16mm", "bottom": "18mm", "left": "15mm", "right": "15mm"},
                   display_header_footer=True, header_template="<span></span>", footer_template=FOOTER)

# Runs in the loaded page: opens what is folded, appends the CJK font to the theme's fonts, waits for the
# images and for MathJax, and returns the problems that would spoil the PDF, and the elements wider than
# the page (cut at its right edge: worth a look, not an error).
PREPARE = r"""async ({cjk, mathTimeout}) => {
  const problems = [];
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  document.querySelectorAll('.toggle-hidden').forEach(e => e.classList.remove('toggle-hidden'));
  const root = document.documentElement, style = getComputedStyle(root);
  for (const name of ['--pst-font-family-base', '--pst-font-family-heading', '--pst-font-family-monospace'])
    root.style.setProperty(name, `${style.getPropertyValue(name) || 'sans-serif'}, "${cjk}"`);
  const images = [...document.images];
  images.forEach(img => { img.loading = 'eager'; });
  await Promise.all(images.map(img => img.decode().catch(() => null)));
  for (const img of images)
    if (img.naturalWidth === 0) problems.push('broken image: ' + img.getAttribute('src'));
  const maths = [...document.querySelectorAll('.math')];
  if (maths.length) {
    const startup = window.MathJax && MathJax.startup && MathJax.startup.promise;
    const late = new Promise(done => setTimeout(() => done('late'), mathTimeout));
    if (!startup) problems.push('MathJax is not loaded');
    else if (await Promise.race([startup.then(() => 'done'), late]) === 'late')
      problems.push(`MathJax did not finish typesetting in ${mathTimeout / 1000} s`);
  }
  maths.filter(el => !el.querySelector('mjx-container') || el.querySelector('mjx-merror'))
    .forEach(el => problems.push('unrendered math: ' + el.textContent.replace(/\s+/g, ' ').trim().slice(0, 80)));
  await document.fonts.ready;
  const right = document.querySelector('.bd-article').getBoundingClientRect().right + 1;
  const wide = [...document.querySelectorAll('.bd-article :is(table, pre, img, mjx-container[display="true"])')]
    .filter(el => el.getBoundingClientRect().right > right)
    .map(el => `${el.tagName.toLowerCase()} in #${el.closest('section[id]').id}`);
  return {problems, wide, images: images.length, maths: maths.length};
}"""


class PdfError(RuntimeError):
    """The PDF cannot be made as it should be; the message says why and what to do."""


def write_config(root, out) -> Path:
    """OUT/_config.yml: ROOT's configuration, with the HTML build's execution cache and the singlehtml fix.

    Also removes the previous PDF build (OUT/_build): Sphinx reads again only the pages whose source
    changed, and a notebook's outputs change without its source when `make book` executes it again."""
    root, out = Path(root).resolve(), Path(out).resolve()
    if out == root:
        raise PdfError(f"the PDF build needs a folder of its own (e.g. {root / '_build' / 'pdf'}), not {root}")
    shutil.rmtree(out / "_build", ignore_errors=True)
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    config.setdefault("execute", {}).setdefault("cache", str(root / "_build" / ".jupyter_cache"))
    config.setdefault("sphinx", {}).setdefault("local_extensions", {})["singlehtml_nodes"] = str(TOOLS)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "_config.yml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def system_cjk_families() -> list[str]:
    """Families of the CJK fonts fontconfig knows (every localized name), or [] without fontconfig."""
    try:
        listed = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True).stdout
    except FileNotFoundError:
        return []
    return [name.strip() for line in sorted(listed.splitlines()) for name in line.split(",") if name.strip()]


def pip_font(folder: Path = FONT_DIR) -> str:
    """Fetch PIP_FONT's font with pip into `folder` and make it fontconfig's (FONTCONFIG_FILE); its family."""
    package, member, family = PIP_FONT
    font = folder / Path(member).name
    if not (font.is_file() and sha256(font.read_bytes()) == PIP_FONT_SHA256):
        with tempfile.TemporaryDirectory() as wheels:
            run = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                                  "-d", wheels, package], capture_output=True, text=True)
            if run.returncode != 0:
                reason = (run.stderr.strip().splitlines() or ["pip failed"])[-1]
                raise PdfError(f"The PDF needs a CJK font for the book's Chinese text; the system has none and "
                               f"pip could not fetch one ({package}: {reason}): {INSTALL_CJK}.")
            data = zipfile.ZipFile(next(Path(wheels).glob("*.whl"))).read(member)
        if sha256(data) != PIP_FONT_SHA256:
            raise PdfError(f"{package} ships a {Path(member).name} whose SHA-256 is not the pinned one: {INSTALL_CJK}.")
        folder.mkdir(parents=True, exist_ok=True)
        font.write_bytes(data)
    conf = folder / "fonts.conf"
    conf.write_text(FONTS_CONF.format(folder=folder.resolve()))
    os.environ["FONTCONFIG_FILE"] = str(conf)  # read by the Chromium launched after this
    return family


def cjk_font(platform: str = sys.platform) -> str:
    """The font family the PDF sets Chinese text in, after making sure the browser will find it."""
    if platform == "darwin":
        return MACOS_CJK
    families = system_cjk_families()
    if families:
        return next((name for name in PREFERRED_CJK if name in families), families[0])
    return pip_font()


def single_page(site) -> Path:
    """The book's one page in the singlehtml build `site`, as site/print.html.

    The builder writes the page where the root document is (book/intro.html) but with links relative to
    `site` (_static/..., _images/...), and site/index.html redirects to it: a copy in `site` loads whole.
    Figures glued into a chapter page from a notebook ({glue:figure}) keep the path relative to their own
    document (../_images/...), which the copy points back at _images/."""
    site = Path(site).resolve()
    index = site / "index.html"
    if not index.is_file():
        raise PdfError(f"{index} is missing: build the single-page HTML first (`make pdf` does)")
    redirect = re.search(r'http-equiv="Refresh" content="0; url=([^"]+)"', index.read_text(encoding="utf-8"), re.I)
    page = site / "print.html"
    html = (site / redirect.group(1) if redirect else index).read_text(encoding="utf-8")
    page.write_text(re.sub(r'(src|href)="(?:\.\./)+_images/', r'\1="_images/', html), encoding="utf-8")
    return page


def print_pdf(site, pdf) -> dict:
    """Print the book's page in the singlehtml build `site` to the file `pdf`; returns what it printed:
    the CJK font, the number of images and formulas, and the seconds it took."""
    html, pdf = single_page(site), Path(pdf).resolve()
    font, start = cjk_font(), time.perf_counter()
    with sync_playwright() as playwright:
        browser = chromium.launch(playwright)
        try:
            page = browser.new_page(viewport=PRINTABLE)  # so that what the page measures is what prints
            page.set_default_timeout(MATH_TIMEOUT_MS + 60_000)
            leaks = []
            page.route(NON_LOCAL, lambda route: leaks.append(route.request.url) or route.abort())
            page.emulate_media(media="print")
            page.goto(html.as_uri(), wait_until="load")
            page.add_style_tag(content=PRINT_CSS)
            report = page.evaluate(PREPARE, {"cjk": font, "mathTimeout": MATH_TIMEOUT_MS})
            problems = report["problems"] + [f"network request: {url}" for url in leaks]
            if problems:
                raise PdfError(f"{html} is not ready to print, {len(problems)} problems:\n" + "\n".join(problems))
            pdf.parent.mkdir(parents=True, exist_ok=True)
            page.pdf(path=pdf, **PDF_OPTIONS)
        finally:
            browser.close()
    return {"font": font, "images": report["images"], "formulas": report["maths"], "wide": report["wide"],
            "seconds": round(time.perf_counter() - start, 1)}


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3 or args[0] not in ("config", "print"):
        sys.exit(f"usage: python {Path(__file__).name} config ROOT OUT | print SITE PDF")
    command, first, second = args
    try:
        if command == "config":
            print(f"PDF build configuration: {write_config(first, second)}")
        else:
            done = print_pdf(first, second)
            size = Path(second).stat().st_size / 1e6
            print(f"PDF: {second} ({size:.1f} MB; {done['images']} images, {done['formulas']} formulas, "
                  f"Chinese in {done['font']}; printed in {done['seconds']} s)")
            if done["wide"]:
                print(f"Wider than the page, cut at its right edge ({len(done['wide'])}): "
                      + ", ".join(done["wide"][:20]))
    except (PdfError, RuntimeError) as error:
        sys.exit(str(error))


if __name__ == "__main__":
    main()

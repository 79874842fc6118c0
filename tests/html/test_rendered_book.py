"""The built book, opened from disk in headless Chromium with the network off.

`check_site(root, browser)` opens every HTML page under `root` (file:// URLs) and returns one message
per problem, naming the page: a request that would leave the machine or a local file that fails to
load, a broken image, an internal link to a missing file or #fragment, math that MathJax left as raw
TeX, and console or JavaScript errors. The real build must have none; a synthetic site shows that each
kind of problem is caught.
"""
import functools
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tinyrec.exercises.generate import is_student_notebook

LOCAL_SCHEMES = {"file", "data", "blob", "about"}
NON_LOCAL = re.compile(r"^(?!(file|data|blob|about):)")  # URLs that would leave the machine
# Known, harmless upstream errors. Sphinx 7.4 writes sphinx-thebe's inline config script twice (it is
# added after the builder starts, once as filename None and once as ''); the second copy only
# re-declares the constants of the first.
IGNORED_ERRORS = {"Identifier 'THEBE_JS_URL' has already been declared"}

# Runs in the page once it has loaded: waits for MathJax, then reports unrendered math and broken
# images, and returns the page's links (as written and as resolved).
PAGE_SCRIPT = r"""async () => {
  const problems = [];
  const maths = [...document.querySelectorAll('.math')];
  if (maths.length) {
    const startup = window.MathJax && MathJax.startup && MathJax.startup.promise;
    if (!startup) problems.push('MathJax is not loaded');
    else await Promise.race([startup, new Promise(done => setTimeout(done, 20000))]);
  }
  for (const el of maths) {
    const raw = [...el.childNodes].filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.data).join('');
    // A TeX error, or an undefined macro (MathJax shows it in red, as \name).
    const error = el.querySelector('mjx-merror');
    const macro = [...el.querySelectorAll('mtext[mathcolor="red"]')].find(t => t.textContent.startsWith('\\'));
    if (!el.querySelector('mjx-container') || /\\\(|\\\[|\$\$|\\begin/.test(raw))
      problems.push('unrendered math: ' + el.textContent.replace(/\s+/g, ' ').trim().slice(0, 80));
    else if (error)
      problems.push('math error: ' + (error.getAttribute('data-mjx-error') || error.textContent).slice(0, 80));
    else if (macro)
      problems.push('undefined TeX macro: ' + macro.textContent);
  }
  const images = [...document.images];
  images.forEach(img => { img.loading = 'eager'; });
  await Promise.all(images.map(img => img.decode().catch(() => null)));
  for (const img of images)
    if (img.naturalWidth === 0) problems.push('broken image: ' + img.getAttribute('src'));
  await document.fonts.ready;
  const links = [...document.querySelectorAll('a[href]')].map(a => [a.getAttribute('href'), a.href]);
  return {problems, links};
}"""


class _Anchors(HTMLParser):
    """Collects a page's ids (and <a name>s) and its <meta http-equiv="refresh"> target."""

    def __init__(self):
        super().__init__()
        self.ids, self.refresh = set(), None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.ids.update(attrs[k] for k in ("id", "name") if attrs.get(k) and (k == "id" or tag == "a"))
        if tag == "meta" and (attrs.get("http-equiv") or "").lower() == "refresh":
            self.refresh = (attrs.get("content") or "").partition("url=")[2].strip() or None


@functools.cache
def scan(path: Path) -> _Anchors:
    """The ids and redirect target of the HTML file at `path`."""
    parser = _Anchors()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


def check_link(root: Path, href: str, url: str) -> str | None:
    """The problem with one link (as written, and resolved to a URL), or None if it is fine or external."""
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None  # external links are not followed: the checks run offline
    target = Path(unquote(parts.path))
    if not target.is_relative_to(root):
        return f"link leaves the book: {href}"
    if target.is_dir():
        target /= "index.html"
    if not target.is_file():
        return f"broken link: {href}"
    fragment = unquote(parts.fragment)
    if fragment and target.suffix == ".html" and fragment not in scan(target).ids:
        return f"broken anchor: {href}"
    return None


def check_page(context, root: Path, path: Path) -> list[str]:
    """Problems of one page, opened from disk with every non-local request aborted."""
    problems = []
    redirect = scan(path).refresh
    if redirect:  # a redirect stub: check where it points instead of following it
        return [p for p in [check_link(root, redirect, (path.parent / redirect).as_uri())] if p]

    def block(route):
        problems.append(f"network request: {route.request.url}")
        route.abort()

    def failed(request):
        if urlsplit(request.url).scheme in LOCAL_SCHEMES:
            problems.append(f"failed to load {request.url}: {request.failure}")

    def console(message):
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(f"console error: {message.text}")

    page = context.new_page()
    try:
        page.route(NON_LOCAL, block)
        page.on("requestfailed", failed)
        page.on("console", console)
        page.on("pageerror", lambda e: str(e) in IGNORED_ERRORS or problems.append(f"JavaScript error: {e}"))
        page.goto(path.as_uri(), wait_until="load")
        result = page.evaluate(PAGE_SCRIPT)
    finally:
        page.close()
    problems += result["problems"]
    problems += [p for href, url in result["links"] if (p := check_link(root, href, url))]
    return problems


def check_site(root: Path, browser) -> list[str]:
    """Problems of every HTML page under `root` (but _static and _sources), each prefixed by its page."""
    root = root.resolve()
    pages = [p for p in sorted(root.rglob("*.html"))
             if not {"_static", "_sources"} & set(p.relative_to(root).parts)]
    assert pages, f"no HTML pages under {root}"
    context = browser.new_context()
    try:
        return [f"{page.relative_to(root)}: {problem}"
                for page in pages for problem in dict.fromkeys(check_page(context, root, page))]
    finally:
        context.close()


def test_book_renders_offline(browser, book_html):
    """Every page of the built book loads with the network off, with all images, links and math."""
    problems = check_site(book_html, browser)
    assert not problems, f"{len(problems)} problems in {book_html}:\n" + "\n".join(problems)


def test_checks_catch_problems(browser, tmp_path):
    """A synthetic site with one problem of each kind: each is reported, naming page and URL."""
    mathjax = Path(__file__).resolve().parents[2] / "book" / "_static" / "mathjax"
    if not (mathjax / "tex-chtml.js").is_file():
        pytest.fail(f"{mathjax} is missing: run `make mathjax` first")
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "mathjax").symlink_to(mathjax)
    (tmp_path / "other.html").write_text('<!DOCTYPE html><title>o</title><p id="there">there</p>')
    (tmp_path / "stub.html").write_text('<meta http-equiv="refresh" content="0; url=gone.html">')
    (tmp_path / "index.html").write_text(r"""<!DOCTYPE html><title>i</title>
      <a href="other.html#there">fine</a> <a href="#top" id="top">fine too</a> <a href="https://example.org/">out</a>
      <a href="missing.html">missing</a> <a href="other.html#nowhere">bad anchor</a>
      <img src="missing.png" alt=""> <img src="https://example.invalid/logo.png" alt="">
      <span class="math notranslate nohighlight">\(x^2\)</span>
      <script>console.error("boom"); undefinedFunction();</script>""")
    (tmp_path / "math.html").write_text(r"""<!DOCTYPE html><title>m</title>
      <span class="math">\(E=mc^2\)</span> <div class="math">\[\sum_i \cancel{x_i}\]</div>
      <span class="math">\(\bm{x}\)</span> <span class="math">\(x^2^3\)</span>
      <script defer src="_static/mathjax/tex-chtml.js"></script>""")
    problems = check_site(tmp_path, browser)
    report = "\n".join(problems)
    for expected in [
        "index.html: broken link: missing.html",
        "index.html: broken anchor: other.html#nowhere",
        "index.html: broken image: missing.png",
        "index.html: network request: https://example.invalid/logo.png",
        "index.html: MathJax is not loaded",
        r"index.html: unrendered math: \(x^2\)",
        "index.html: console error: boom",
        "index.html: JavaScript error: undefinedFunction is not defined",
        "stub.html: broken link: gone.html",
        r"math.html: undefined TeX macro: \bm",
        "math.html: math error: Double exponent: use braces to clarify",
    ]:
        assert expected in problems, f"{expected!r} not reported in:\n{report}"
    assert "#there" not in report and "#top" not in report and "example.org" not in report
    assert len([p for p in problems if p.startswith("math.html")]) == 2, report  # the good math is fine


def test_every_figure_a_notebook_draws_is_on_its_page(book_html):
    """A lab that calls plt.show() N times shows at least N images (a non-inline backend shows none).
    The course edition's student notebooks are not executed: they are left out."""
    project = Path(__file__).resolve().parents[2]
    missing = []
    for page in book_html.rglob("*.html"):
        source = project / page.relative_to(book_html).with_suffix(".ipynb")
        if "_sources" in page.parts or not source.is_file() or is_student_notebook(source):
            continue
        expected = source.read_text(encoding="utf-8").count("plt.show()")
        shown = len(re.findall(r'<img[^>]+src="[^"]*_images/', page.read_text(encoding="utf-8")))
        if shown < expected:
            missing.append(f"{page.relative_to(book_html)}: {shown} figure(s) shown, {expected} drawn")
    assert not missing, "figures missing from the book:\n" + "\n".join(missing)

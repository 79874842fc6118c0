"""Fixtures of the HTML checks: the built book and a headless Chromium, driven by Playwright."""
import os
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

import chromium  # tests/html/chromium.py: which browser (TINYREC_CHROMIUM, Debian's, or Playwright's)

# The book that `make book` builds; TINYREC_BOOK_HTML checks another build (e.g. one made with --path-output,
# as `make html-check EDITION=course` does).
BOOK_HTML = Path(os.environ.get("TINYREC_BOOK_HTML", Path(__file__).resolve().parents[2] / "_build" / "html"))


@pytest.fixture(scope="session")
def book_html() -> Path:
    """The built book's HTML folder; fails (does not skip) when the book has not been built."""
    if not (BOOK_HTML / "index.html").is_file():
        pytest.fail(f"{BOOK_HTML}/index.html is missing: run `make book` first")
    return BOOK_HTML


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session; fails saying what to install when there is none."""
    with sync_playwright() as playwright:
        try:
            browser = chromium.launch(playwright)
        except RuntimeError as error:
            problem = str(error)
        else:
            problem = None
        if problem:
            pytest.fail(problem, pytrace=False)
        yield browser
        browser.close()

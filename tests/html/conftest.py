"""Fixtures of the HTML checks: the built book and Debian's Chromium, driven by Playwright."""
import os
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

# The book that `make book` builds; TINYREC_BOOK_HTML checks another build (e.g. one made with --path-output).
BOOK_HTML = Path(os.environ.get("TINYREC_BOOK_HTML", Path(__file__).resolve().parents[2] / "_build" / "html"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--dns-prefetch-disable",
    # Resolve no host name at all: even a request that slipped past the checks' routing cannot leave.
    "--host-resolver-rules=MAP * ~NOTFOUND",
]


@pytest.fixture(scope="session")
def book_html() -> Path:
    """The built book's HTML folder; fails (does not skip) when the book has not been built."""
    if not (BOOK_HTML / "index.html").is_file():
        pytest.fail(f"{BOOK_HTML}/index.html is missing: run `make book` first")
    return BOOK_HTML


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` first")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()

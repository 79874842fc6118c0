"""Which Chromium the HTML checks launch, and how (Playwright drives it headless, with the network off).

The first of: the executable TINYREC_CHROMIUM names, when set; Debian's /usr/bin/chromium, when
installed; else Playwright's own build, when `python -m playwright install chromium` has downloaded it
(`make chromium` sees to one of them). `python tests/html/chromium.py` starts it once and says which it is,
or says in one sentence what to install.
"""
import os
import sys

from playwright.sync_api import Error, sync_playwright

DEBIAN_CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--dns-prefetch-disable",
    # Resolve no host name at all: even a request that slipped past the checks' routing cannot leave.
    "--host-resolver-rules=MAP * ~NOTFOUND",
]
INSTALL = ("install Debian's chromium (as root: apt-get install chromium), or Playwright's "
           f"({sys.executable} -m playwright install chromium), or set TINYREC_CHROMIUM to "
           "the executable of a Chromium or Google Chrome you have")


def executable() -> str | None:
    """The browser's path, or None for Playwright's own build."""
    if os.environ.get("TINYREC_CHROMIUM"):
        return os.environ["TINYREC_CHROMIUM"]
    return DEBIAN_CHROMIUM if os.access(DEBIAN_CHROMIUM, os.X_OK) else None


def name() -> str:
    path = executable()
    return f"{path} (TINYREC_CHROMIUM)" if os.environ.get("TINYREC_CHROMIUM") else path or "Playwright's Chromium"


def launch(playwright):
    """The headless browser, started; RuntimeError saying what to install when it does not start."""
    try:
        return playwright.chromium.launch(executable_path=executable(), args=ARGS)
    except Error as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise RuntimeError(f"The HTML checks could not start {name()} ({reason}): {INSTALL}.") from None


def main():
    with sync_playwright() as playwright:
        try:
            browser = launch(playwright)
        except RuntimeError as error:
            sys.exit(str(error))
        print(f"HTML checks: {name()}, Chromium {browser.version}")
        browser.close()


if __name__ == "__main__":
    main()

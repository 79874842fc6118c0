"""Bundle MathJax into the book, so that its math renders offline (no CDN).

    python tools/bundle_mathjax.py book/_static/mathjax      (what `make mathjax` runs)

MathJax 3.2.2 comes from PyPI: the wheel of `sphinx-mathjax-offline==0.0.2` (pinned in requirements.txt)
ships MathJax's es5 build, byte for byte the files of the npm package mathjax@3.2.2, in the folder
`sphinx-mathjax-offline/static/mathjax` of site-packages (24 MB). That package's own Sphinx hook, which
copies all of it into every build, is not used: this script copies only what `tex-chtml.js` (the book's
`mathjax_path`) loads into the given folder (gitignored), which `html_static_path` in _config.yml puts
into the book. The SHA-256 of `tex-chtml.js` is pinned, so another version of the package fails with a
message that says so. The wheel has no licence file: MathJax's own (Apache 2.0, as in the npm package)
is tools/MathJax-LICENSE, copied beside the files. Pure Python (no npm, tar or sha256sum): any OS.
"""
import hashlib
import shutil
import sys
from importlib import metadata
from pathlib import Path

PACKAGE, PACKAGE_VERSION, MATHJAX_VERSION = "sphinx-mathjax-offline", "0.0.2", "3.2.2"
FOLDER = "sphinx-mathjax-offline/static/mathjax"  # inside site-packages (a hyphen: not an importable name)
ENTRY = "tex-chtml.js"
ENTRY_SHA256 = "0a6ded5abbce13331658dd239f34382abd06492c74b71b61e8caa8112ec55fa5"
# What tex-chtml.js loads (measured by loading pages in Chromium and using the MathJax menu of each formula):
# - always: tex-chtml.js itself (TeX input, CHTML output, the menu and assistive MathML are built in) and
#   the web fonts it needs;
# - when a page uses their macros (\cancel, \boldsymbol, \color, ...): the TeX extensions it autoloads;
# - when a reader turns on the menu's accessibility options (explorer, collapsible math, speech): a11y/*,
#   the MathML input (input/mml.js) and the speech rule engine's rules for the chosen language (sre/);
# - when a reader picks the SVG renderer in the menu: output/svg.js and its font.
# Left out: ui/ (menu.js is already inside tex-chtml.js; lazy.js and safe.js load only when configured),
# the other combined builds (tex-svg.js, tex-chtml-full.js, ...), MathML and AsciiMath input, Node.js files.
SUBSET = [ENTRY, "output/chtml/fonts/woff-v2", "input/tex/extensions", "input/mml.js", "a11y", "sre",
          "output/svg.js", "output/svg/fonts/tex.js"]
LICENSE = Path(__file__).with_name("MathJax-LICENSE")
STAMP = ".bundled"  # a dot file: Sphinx does not copy it into the book
NOTICE = f"""MathJax {MATHJAX_VERSION} (es5 build), https://www.mathjax.org/
by the MathJax Consortium, licensed under the Apache License, Version 2.0: see LICENSE beside this file.
Copied from the PyPI package {PACKAGE}=={PACKAGE_VERSION} (its wheel ships no licence file) by
tools/bundle_mathjax.py: only what {ENTRY} loads. Unmodified.
"""


class MathJaxError(RuntimeError):
    """The pinned MathJax is not installed, or not the pinned one."""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source() -> Path:
    """The installed package's MathJax folder, after checking that it holds the pinned MathJax."""
    try:
        distribution = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError:
        raise MathJaxError(f"MathJax: {PACKAGE} is not installed for {sys.executable}: run "
                           f"`pip install -r requirements.txt` (it pins {PACKAGE}=={PACKAGE_VERSION})") from None
    folder = Path(distribution.locate_file(FOLDER))
    entry = folder / ENTRY
    found = sha256(entry) if entry.is_file() else "a missing file"
    if found != ENTRY_SHA256:
        raise MathJaxError(
            f"MathJax: {entry} has SHA-256 {found}, not the pinned {ENTRY_SHA256} of MathJax "
            f"{MATHJAX_VERSION}: {PACKAGE} {distribution.version} is installed, the book needs "
            f"{PACKAGE}=={PACKAGE_VERSION} (`pip install -r requirements.txt`); to move to another version, "
            f"update the pins in requirements.txt and tools/bundle_mathjax.py together")
    missing = [part for part in SUBSET if not (folder / part).exists()]
    if missing:
        raise MathJaxError(f"MathJax: {folder} lacks {', '.join(missing)}: reinstall {PACKAGE}=={PACKAGE_VERSION}")
    return folder


def bundle(dest) -> bool:
    """Copy the subset, LICENSE and NOTICE into the folder `dest` (replacing it) unless it is up to date.
    Returns True when it copied."""
    dest, origin = Path(dest), source()
    stamp = f"{PACKAGE}=={PACKAGE_VERSION} {ENTRY} {ENTRY_SHA256} {' '.join(SUBSET)}\n"
    if (dest / STAMP).is_file() and (dest / STAMP).read_text() == stamp and sha256(dest / ENTRY) == ENTRY_SHA256:
        return False
    partial = dest.with_name(dest.name + ".partial")  # copied whole, then renamed: never half a bundle
    shutil.rmtree(partial, ignore_errors=True)
    for part in SUBSET:
        (partial / part).parent.mkdir(parents=True, exist_ok=True)
        if (origin / part).is_dir():
            shutil.copytree(origin / part, partial / part)
        else:
            shutil.copyfile(origin / part, partial / part)
    shutil.copyfile(LICENSE, partial / "LICENSE")
    (partial / "NOTICE").write_text(NOTICE)
    (partial / STAMP).write_text(stamp)
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)
    return True


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.exit(f"usage: python {Path(__file__).name} DEST   (e.g. book/_static/mathjax)")
    try:
        copied = bundle(args[0])
    except MathJaxError as error:
        sys.exit(str(error))
    print(f"MathJax {MATHJAX_VERSION} {'copied into' if copied else 'is up to date in'} {args[0]}")


if __name__ == "__main__":
    main()

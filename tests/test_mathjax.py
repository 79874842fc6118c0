"""tools/bundle_mathjax.py: the pinned MathJax is installed, and only what tex-chtml.js loads is bundled.

No book build needed: these tests read the installed package and copy into a temporary folder.
"""
import hashlib
import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bundle_mathjax", ROOT / "tools" / "bundle_mathjax.py")
bundle_mathjax = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bundle_mathjax)


def test_requirements_pin_the_package_the_checksum_belongs_to():
    pin = f"{bundle_mathjax.PACKAGE}=={bundle_mathjax.PACKAGE_VERSION}"
    assert pin in (ROOT / "requirements.txt").read_text().splitlines()


def test_the_installed_package_holds_the_pinned_mathjax():
    folder = bundle_mathjax.source()
    entry = (folder / "tex-chtml.js").read_bytes()
    assert hashlib.sha256(entry).hexdigest() == bundle_mathjax.ENTRY_SHA256
    assert b'"3.2.2"' in entry  # MathJax.version
    for part in bundle_mathjax.SUBSET:
        assert (folder / part).exists(), part


def test_bundle_copies_the_subset_with_the_licence(tmp_path):
    dest = tmp_path / "_static" / "mathjax"
    assert bundle_mathjax.bundle(dest) is True
    files = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert {"tex-chtml.js", "LICENSE", "NOTICE", ".bundled"} <= files
    assert "Apache License" in (dest / "LICENSE").read_text() and "3.2.2" in (dest / "NOTICE").read_text()
    # what tex-chtml.js loads: fonts, autoloaded TeX extensions, what the menu's options load
    for needed in ["output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff", "input/tex/extensions/cancel.js",
                   "input/tex/extensions/boldsymbol.js", "a11y/explorer.js", "a11y/complexity.js",
                   "input/mml.js", "sre/mathmaps/base.json", "sre/mathmaps/en.json", "output/svg.js"]:
        assert needed in files, needed
    # and nothing else: no other builds, no ui/ (the menu is inside tex-chtml.js), no Node.js files
    assert not {"tex-svg.js", "tex-chtml-full.js", "node-main.js", "ui/menu.js", "input/asciimath.js"} & files
    size = sum((dest / f).stat().st_size for f in files)
    assert 5e6 < size < 8e6, size  # of the package's 24 MB
    assert not dest.with_name("mathjax.partial").exists()
    assert bundle_mathjax.bundle(dest) is False  # up to date: nothing copied
    (dest / "tex-chtml.js").write_text("tampered")
    assert bundle_mathjax.bundle(dest) is True  # a damaged copy is replaced
    assert hashlib.sha256((dest / "tex-chtml.js").read_bytes()).hexdigest() == bundle_mathjax.ENTRY_SHA256


def test_another_version_fails_with_a_clear_message(tmp_path, monkeypatch):
    """A package whose tex-chtml.js differs from the pinned one (another release) is refused."""
    other = tmp_path / "site-packages"
    shutil.copytree(bundle_mathjax.source(), other / bundle_mathjax.FOLDER,
                    ignore=shutil.ignore_patterns("sre", "*.woff"))
    (other / bundle_mathjax.FOLDER / "tex-chtml.js").write_text("/* MathJax 3.2.3 */")

    class Other:
        version = "0.0.3"

        def locate_file(self, path):
            return other / path

    monkeypatch.setattr(bundle_mathjax.metadata, "distribution", lambda name: Other())
    with pytest.raises(bundle_mathjax.MathJaxError, match=r"SHA-256 .* not the pinned .*"
                       r"sphinx-mathjax-offline 0\.0\.3 is installed.*sphinx-mathjax-offline==0\.0\.2"):
        bundle_mathjax.bundle(tmp_path / "mathjax")
    assert not (tmp_path / "mathjax").exists()
    with pytest.raises(SystemExit, match="SHA-256"):
        bundle_mathjax.main([str(tmp_path / "mathjax")])


def test_a_missing_package_fails_with_a_clear_message(monkeypatch):
    def missing(name):
        raise bundle_mathjax.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(bundle_mathjax.metadata, "distribution", missing)
    with pytest.raises(bundle_mathjax.MathJaxError, match=r"not installed.*pip install -r requirements\.txt"):
        bundle_mathjax.source()

# Two commands do everything on a fresh machine:  `make book`  and  `make test`.
# Both create .venv when it is missing, install requirements.txt and tinyrec, and fetch the data: `make book`
# needs only Python and pip. `make test` also needs a Chromium for the HTML checks (see `chromium` below),
# and for the PDF a CJK font and poppler-utils (see `pdf`).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
EDITION ?= learner
ifeq ($(filter $(EDITION),learner course),)
  $(error EDITION must be learner or course, not '$(EDITION)')
endif
ifeq ($(EDITION)$(filter pdf,$(MAKECMDGOALS)),coursepdf)
  $(error make pdf builds the learner edition: run it without EDITION=course)
endif

# Data and trained models are cached here (a clean checkout starts with an empty cache).
export TINYREC_CACHE ?= $(CURDIR)/.cache
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: setup data book test unit notebooks html-check exercises lab clean chromium mathjax pdf pdf-tools

# MathJax 3.2.2, bundled into the book so that math renders offline (no CDN): from the PyPI package
# sphinx-mathjax-offline (pinned in requirements.txt), tools/bundle_mathjax.py checks its SHA-256 and copies
# only what tex-chtml.js loads into book/_static/mathjax (gitignored; _config.yml serves it).
MATHJAX_DIR := book/_static/mathjax

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3
	touch $@

mathjax: setup
	@$(PY) tools/bundle_mathjax.py $(MATHJAX_DIR)

# Headless Chromium for the HTML checks, driven by Playwright. They launch TINYREC_CHROMIUM when it is set,
# else Debian's $(DEBIAN_CHROMIUM) when it is installed, else Playwright's own build (tests/html/chromium.py).
# When there is none: as root on a system with apt-get (CI: a fresh Debian machine, which cannot reach
# Playwright's download server), Debian's chromium is installed; otherwise (macOS, a user account)
# Playwright downloads its own. Then the browser the checks will use is started once.
DEBIAN_CHROMIUM := /usr/bin/chromium
PW_LOG := _build/playwright-install.log

chromium: setup
	@if [ -n "$$TINYREC_CHROMIUM" ] || [ -x $(DEBIAN_CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's chromium for the HTML checks"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; } || \
	    { echo "apt-get could not install Debian's chromium for the HTML checks: install it, or set TINYREC_CHROMIUM" \
	      "to the executable of a Chromium or Google Chrome you have."; exit 1; }; \
	else \
	  echo "Installing Playwright's headless Chromium for the HTML checks, unless it is there (log: $(PW_LOG))"; \
	  mkdir -p _build && $(PY) -m playwright install --only-shell chromium >$(PW_LOG) 2>&1 || \
	    { echo "The HTML checks need Chromium, and Playwright could not download its own ($(PW_LOG)): install" \
	      "Debian's chromium (as root: apt-get install chromium), or set TINYREC_CHROMIUM to the executable of" \
	      "a Chromium or Google Chrome you have."; exit 1; }; \
	fi
	@$(PY) tests/html/chromium.py

setup: $(STAMP)

data: setup
	$(PY) -m tinyrec.data

# Two editions (see tinyrec/exercises/generate.py). EDITION=learner (default): the exercise pages are the executed
# solution notebooks, answers collapsed, in _build/html. EDITION=course, for instructors to publish: the
# student notebooks, unexecuted, and no solution code anywhere, in _build/course/_build/html.
# jupyter-cache re-executes a notebook only when its code cells change; when tinyrec's code or the expected
# ranges changed since the last build (`python -m tinyrec.cache` prints their fingerprint, which ignores
# comments and docstrings), every notebook must run again.
JUPYTER_CACHE := _build/.jupyter_cache
CODE_STAMP := _build/.code-stamp

book: setup data mathjax
	@mkdir -p _build; code=$$($(PY) -m tinyrec.cache); \
	if [ -e $(CODE_STAMP) ] && [ "$$(cat $(CODE_STAMP))" != "$$code" ]; then \
	  echo "tinyrec or the expected ranges changed since the last build: executing every notebook again"; \
	  rm -rf $(JUPYTER_CACHE) _build/.doctrees; fi; \
	echo "$$code" > $(CODE_STAMP)
ifeq ($(EDITION),learner)
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo "Book: $(CURDIR)/_build/html/index.html"
else
	$(PY) -m tinyrec.exercises course-edition _build/course
	$(BIN)/jupyter-book build . -W -n --keep-going --path-output _build/course \
	  --toc _build/course/_toc.yml --config _build/course/_config.yml
	@echo "Book (course edition): $(CURDIR)/_build/course/_build/html/index.html"
endif

# Fast unit tests; the tests marked `book` build small books and run with the HTML checks.
unit: setup data
	$(BIN)/pytest tests --ignore=tests/html -m "not book"

# The student exercise notebooks are not executed (conftest.py skips them); their solutions are.
notebooks: setup data
	$(BIN)/pytest --nbval-lax --nbval-cell-timeout=3600 notebooks solutions -p no:cacheprovider

# The PDF edition: the learner edition as one PDF, _build/pdf/tiny-recommenders.pdf. Sphinx's singlehtml
# builder writes the whole book as one page (from the HTML build's execution cache: no notebook runs again;
# its own doctrees and output in _build/pdf), and the Chromium of the HTML checks prints it with the math
# typeset, the figures, every answer and hidden code cell unfolded, and no navigation (tools/book_pdf.py).
# Chinese text needs a CJK font, and the PDF's test poppler-utils (pdfinfo, pdffonts, pdftoppm). When one
# is missing: as root with apt-get (CI), Debian's $(CJK_FONT_PACKAGE) (1.6 MB download) and poppler-utils
# are installed; otherwise tools/book_pdf.py uses a CJK font the system has (macOS always has one) or
# fetches the same WenQuanYi Micro Hei from PyPI with pip, and the test says what to install for poppler.
PDF_BUILD := _build/pdf
PDF := $(PDF_BUILD)/tiny-recommenders.pdf
CJK_FONT_PACKAGE := fonts-wqy-microhei

pdf-tools:
	@missing=; \
	if [ "$$(uname)" != Darwin ] && ! fc-list ':lang=zh' 2>/dev/null | grep -q .; then missing=$(CJK_FONT_PACKAGE); fi; \
	command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's $$missing for the PDF"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; } || \
	    { echo "apt-get could not install $$missing for the PDF: install them, then run make again."; exit 1; }; \
	fi

pdf: chromium pdf-tools book
	@$(PY) tools/book_pdf.py config . $(PDF_BUILD)
	$(BIN)/jupyter-book build . -W -n --keep-going --builder singlehtml --path-output $(PDF_BUILD) \
	  --config $(PDF_BUILD)/_config.yml
	$(PY) tools/book_pdf.py print $(PDF_BUILD)/_build/singlehtml $(PDF)

# The HTML checks of the edition just built: `make html-check EDITION=course` checks the course edition.
# For the learner edition they also check its PDF (`make pdf` first); the tests marked `book` run with it only.
HTML_DIR := $(if $(filter course,$(EDITION)),_build/course/_build/html,_build/html)
ifeq ($(EDITION),learner)
html-check: pdf
HTML_CHECKS := TINYREC_BOOK_PDF=$(CURDIR)/$(PDF) $(BIN)/pytest tests/html
else
HTML_CHECKS := $(BIN)/pytest tests/html -m "not book"
endif

html-check: chromium pdf-tools book
	TINYREC_BOOK_HTML=$(CURDIR)/$(HTML_DIR) $(HTML_CHECKS)
ifeq ($(EDITION),learner)
	$(BIN)/pytest tests --ignore=tests/html -m book
endif

test: unit notebooks html-check

# Write the student notebooks notebooks/X.ipynb from solutions/X.ipynb (tests fail when they are stale).
exercises: setup
	$(PY) -m tinyrec.exercises solutions notebooks

lab: setup data
	$(BIN)/jupyter lab notebooks

clean:
	rm -rf _build .cache

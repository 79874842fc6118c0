# Two commands do everything on a fresh machine:  `make book`  and  `make test`.
# Both create .venv when it is missing, install requirements.txt and tinyrec, fetch the data,
# and install Debian's Chromium for the HTML checks when it is missing.

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

# Data and trained models are cached here (a clean checkout starts with an empty cache).
export TINYREC_CACHE ?= $(CURDIR)/.cache
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: setup data book test unit notebooks html-check exercises lab clean chromium mathjax

# MathJax 3, bundled into the book so that math renders offline (no CDN). Fetched once from the
# npm registry (checksum pinned); only what es5/tex-chtml.js loads is kept: its fonts, the TeX
# extensions it autoloads, and the accessibility/menu parts it loads on demand.
MATHJAX_VERSION := 3.2.2
MATHJAX_SHA256 := 1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09
MATHJAX_DIR := book/_static/mathjax
MATHJAX_STAMP := $(MATHJAX_DIR)/.mathjax-$(MATHJAX_VERSION)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3
	touch $@

$(MATHJAX_STAMP):
	@command -v npm >/dev/null || { echo "Installing Debian's npm to fetch MathJax"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null; }
	rm -rf $(MATHJAX_DIR) && mkdir -p $(MATHJAX_DIR)
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  npm pack --silent --pack-destination "$$tmp" mathjax@$(MATHJAX_VERSION) >/dev/null && \
	  echo "$(MATHJAX_SHA256)  $$tmp/mathjax-$(MATHJAX_VERSION).tgz" | sha256sum -c --quiet && \
	  tar xzf "$$tmp/mathjax-$(MATHJAX_VERSION).tgz" -C $(MATHJAX_DIR) --strip-components=2 \
	    package/es5/tex-chtml.js package/es5/output/chtml/fonts/woff-v2 \
	    package/es5/input/tex/extensions package/es5/a11y package/es5/sre package/es5/ui
	touch $@

mathjax: $(MATHJAX_STAMP)

# Headless Chromium for the HTML checks (Playwright drives Debian's build; it downloads no browser).
chromium:
	@test -x /usr/bin/chromium || { \
	  echo "Installing Debian's chromium for the HTML checks"; \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
	@/usr/bin/chromium --version 2>/dev/null | grep -q Chromium || \
	  { echo "/usr/bin/chromium does not run"; exit 1; }

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
	$(BIN)/pytest --nbval-lax notebooks solutions -p no:cacheprovider

html-check: chromium book
	$(BIN)/pytest tests/html
	$(BIN)/pytest tests --ignore=tests/html -m book

test: unit notebooks html-check

# Write the student notebooks notebooks/X.ipynb from solutions/X.ipynb (tests fail when they are stale).
exercises: setup
	$(PY) -m tinyrec.exercises solutions notebooks

lab: setup data
	$(BIN)/jupyter lab notebooks

clean:
	rm -rf _build .cache

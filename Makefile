# fastbird: `make demo` runs the lesson, `make test` runs every notebook and test. Both set everything up first.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
# torch from PyPI; the GitHub workflows point this at the CPU wheel index to save a 3 GB download
TORCH_INDEX ?=
TORCH := torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.fastbird-installed
# Real photos live beside the project root on the course machines; elsewhere set FASTBIRD_DATA or let fastbird fetch
FASTBIRD_DATA ?= $(abspath ../shared/data)
export FASTBIRD_DATA
# `make demo DATA=DIR` trains on DIR (one subfolder of photos per label) instead of searching the web
DATA ?= $(wildcard $(FASTBIRD_DATA)/birds)

.PHONY: install browser demo test test-install clean-venv

# The docs site's browser demo: `make web` builds what its page needs (onnxruntime-web from npm, the backbone's graph)
include web.mk

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

demo: $(STAMP)
	$(BIN)/fastbird demo $(if $(DATA),--data $(DATA))

# The docs page check and the app's browser test open pages in headless Chromium, driven by its chromedriver: install
# both where we can (root on Debian)
browser:
	@{ command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1; } && \
	  command -v chromedriver >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	  { echo "make test needs Chromium and its driver for the browser tests: install the 'chromium' and 'chromium-driver' packages" >&2; exit 1; }

# The docs page check draws the pages' mermaid diagrams with mermaid.js from npm, cached in .cache/ (tools/check_pages.py)
MERMAID := .cache/mermaid/node_modules/mermaid/dist/mermaid.min.js
$(MERMAID):
	npm install --silent --no-audit --no-fund --prefix .cache/mermaid mermaid@11

# `make test` runs every notebook and test: the lesson and going-further pages each alone outside the checkout on other
# photos (tests/test_notebooks.py), the library pages in place as nbdev-test runs them (tests/test_library_pages.py),
# the docs page check, and the rest of tests/. The flagged cells (slow, network, notest) are left out. The wheel test,
# which builds and installs fastbird into a fresh environment, has its own target, `make test-install` (CI runs both).
# Two test workers on 2 cores: each, and each kernel it starts, computes on one thread (OMP_NUM_THREADS=1), so that
# torch's threads don't fight for the same cores.
test: $(STAMP) browser web $(MERMAID)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --dist loadgroup --durations=20 --ignore=tests/test_install.py tests

test-install: $(STAMP)
	$(BIN)/python -m pytest -q tests/test_install.py

clean-venv:
	rm -rf $(VENV)

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

.PHONY: install browser demo test clean-venv

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

# The lesson notebooks run in tests/test_notebooks.py, each alone outside the checkout on other photos, as learners run
# them; nbdev-test runs the rest in place. Both skip the cells flagged slow, network or notest.
test: $(STAMP) browser
	$(BIN)/nbdev-test --n-workers 2 --timing --file-re '^(index|06a_main)\.ipynb$$'
	$(BIN)/python -m pytest -q -n 2 --durations=15 tests

clean-venv:
	rm -rf $(VENV)

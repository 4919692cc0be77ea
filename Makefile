# Two entry points, each doing all set-up on a fresh machine:
#   make demo   runs the end-to-end job at small size
#   make test   runs the whole test suite (tiers slow, compiled and gpu included; gpu tests skip without CUDA)
#   make test-fast  skips the slow and compiled tiers, for day-to-day work
# Both create/refresh a local venv (.venv) and install everything through constraints.txt,
# which pins the CPU build of torch present on these machines.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_DIR ?= demo
PYTEST_ARGS ?=
# Test worker processes (pytest-xdist; a test file stays in one worker, so its module fixtures are built
# once), each with one torch/OpenMP thread. On this 2-core machine: 1182 s this way against 1890 s in one
# process the evening before (much of a test's time is Python, subprocess start-up and compilers, not BLAS).
# PYTEST_WORKERS=0 runs it in this process.
PYTEST_WORKERS ?= 2
XDIST := $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile)

.PHONY: demo test test-fast venv clean bench system-deps

venv: $(STAMP)

# Debian packages, installed only when missing: gfortran builds the Fortran coupling example (cmake
# and g++ come with the image); chromium renders the HTML report headless (tests/test_report.py,
# scripts/screenshot_report.py).
system-deps:
	@missing=""; \
	command -v gfortran >/dev/null 2>&1 || missing="$$missing gfortran"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then apt-get update -qq && apt-get install -y -qq $$missing; fi

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (subgrid needs Python 3.11: the climt wheel is cp311)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

# The whole pipeline at small size -> $(DEMO_DIR)/report.html, then headless Chromium checks every
# figure of the report rendered and screenshots the whole page ($(DEMO_DIR)/report.png).
demo: $(STAMP) system-deps
	$(BIN)/subgrid demo --out $(DEMO_DIR)
	$(BIN)/python scripts/screenshot_report.py $(DEMO_DIR)/report.html

test: $(STAMP) system-deps
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

test-fast: $(STAMP) system-deps
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest $(XDIST) -m "not slow and not compiled" $(PYTEST_ARGS)

bench: $(STAMP) system-deps
	$(BIN)/python benchmarks/bench_rrtmg.py
	$(BIN)/python benchmarks/bench_speed.py
	$(BIN)/python benchmarks/bench_scale.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) build

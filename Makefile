# Two commands: `make demo` and `make test`. Both bring .venv up to date first, idempotently.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= $(MUJOCO_GL)
export WANDB_MODE ?= offline
export WANDB_SILENT ?= true
# Some images (this project's sandboxes among them) set PYTHONDONTWRITEBYTECODE=1: with pip's --no-compile
# below nothing is then ever cached, and every new process compiles torch again from source (import torch
# 3.5 s of CPU instead of 1.5; with torch._dynamo, which the first optimizer step imports, 8.4 s instead of
# 2.9). make test starts ~100 processes: their first imports write the bytecode cache, the rest read it.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test test-fast venv gl clean bench

venv: $(STAMP)

# Debian GL libraries for headless rendering; installed only when missing.
gl:
	@if ! ldconfig -p | grep -q 'libEGL.so.1' || ! ldconfig -p | grep -q 'libOSMesa'; then \
	  echo "installing headless GL libraries (libegl1, libgl1, libosmesa6)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libegl1 libgl1 libosmesa6 >/dev/null) \
	  || echo "warning: could not install GL libraries; rendering may fail"; \
	fi

# torch first, pinned, so nothing later pulls a CUDA build. --no-compile: pip would byte-compile all
# 18k installed modules (44 s of CPU); Python compiles the ~2.7k a run imports on first import (~5 s).
PIP := $(VPY) -m pip install -q --no-compile --disable-pip-version-check
$(STAMP): pyproject.toml | gl
	@test -x $(VPY) || $(PY) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) torch==2.13.0
	$(PIP) -e '.[dev,sim]' 'numpy<2' 'mujoco==3.3.0' 'ml_dtypes<0.6'
	@touch $(STAMP)

demo: venv
	$(VENV)/bin/robolearn run --name demo

# Everything: the whole suite, the multi-process (torchrun) tests included; one test file per core at
# a time (pytest-xdist; `--dist loadfile` keeps a file's shared fixtures in one process).
test: venv
	$(VPY) -m pytest -q -n auto --dist loadfile tests

# The inner loop while editing: the suite without the tests marked `slow` (under 2 minutes).
test-fast: venv
	$(VPY) -m pytest -q -m "not slow" tests

# Measurements (they print figures, they do not assert); long, so not part of `make test`.
bench: venv
	$(VPY) benchmarks/render_speed.py
	$(VPY) benchmarks/expert_success.py --episodes 200
	$(VPY) benchmarks/rollout_speed.py
	$(VPY) benchmarks/pretrain_throughput.py --encoder conv --image-size 64
	$(VPY) benchmarks/head_latency.py
	$(VPY) benchmarks/export_latency.py
	$(VPY) benchmarks/ccl_digits.py
	$(VPY) benchmarks/dataset_io.py
	$(VENV)/bin/robolearn bench --suite cpu

clean:
	rm -rf $(VENV) build *.egg-info

# openips — the two commands the README opens with are `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
# Lambda runs Python 3.12: use it when this machine has it (pyenv or PATH), else python3.
PYTHON ?= $(shell PYENV_VERSION=3.12.1 python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null || \
                  python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null || \
                  python3 -c 'import sys; print(sys.executable)')
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test test-fast demo bench build sizes bootstrap-admin clean

venv: $(STAMP)

$(STAMP): requirements-dev.txt functions/requirements.txt layers/imaging/requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

test: venv
	PYTHONPATH=functions:src $(VENV)/bin/lint-imports
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: venv
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

demo: venv
	$(PY) -m openips_cli.demo

# Performance against bare libvips and Pillow, same run; prints a markdown table (never fails on timings).
bench: venv
	$(PY) -m bench.run $(BENCH_ARGS)

build:
	bash scripts/sam-build.sh

# Unzipped size of every function with its layers, against Lambda's 250 MB (exit 1 when over).
sizes: build venv
	$(PY) scripts/lambda_sizes.py

# Create the first IpsAdmin and print its API key once: make bootstrap-admin EMAIL=you@example.com [STACK=openips]
bootstrap-admin: venv
	$(PY) -m openips_cli.bootstrap --stack $(or $(STACK),openips) --email $(EMAIL)

clean:
	rm -rf .aws-sam demo-output .openips

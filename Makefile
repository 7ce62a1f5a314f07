# Two commands on a fresh machine with only Python 3.11+: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
UV_DIR := $(CURDIR)/.tools
UV := $(shell command -v uv 2>/dev/null || echo $(UV_DIR)/bin/uv)

.PHONY: bootstrap run test fuzz lint format typecheck check bench clean

# Installs uv (from PyPI, into .tools/) when it is missing, then the locked environment.
bootstrap:
	@if [ ! -x "$(UV)" ]; then \
		echo "installing uv into $(UV_DIR)"; \
		$(PYTHON) -m venv "$(UV_DIR)" && "$(UV_DIR)/bin/pip" install --quiet --disable-pip-version-check uv; \
	fi
	@"$(UV)" sync --locked --quiet

run: bootstrap
	"$(UV)" run --locked medhub serve

test: bootstrap
	"$(UV)" run --locked pytest $(PYTEST_ARGS)

# The deep API fuzzing (README, Development): every role, the stateful phase, a random seed.
fuzz: bootstrap
	FUZZ_DEEP=1 "$(UV)" run --locked pytest tests/test_api_fuzz.py $(PYTEST_ARGS)

lint: bootstrap
	"$(UV)" run --locked ruff check .
	"$(UV)" run --locked ruff format --check .
	"$(UV)" run --locked lint-imports

format: bootstrap
	"$(UV)" run --locked ruff check --fix .
	"$(UV)" run --locked ruff format .

typecheck: bootstrap
	"$(UV)" run --locked mypy

check: lint typecheck test

bench: bootstrap
	"$(UV)" run --locked python -m bench $(SCENARIO)

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache bench/results

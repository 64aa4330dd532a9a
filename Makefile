# `make demo` and `make test` each set everything up first (a virtualenv in .venv), so both work
# on a fresh clone. PYTHON must be 3.11 or newer.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo demo-kafka test bench setup lint lock clean

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "connect-watchdog needs Python 3.11+, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

setup: $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/watchdog demo $(DEMO_ARGS)

# The demo on a real Apache Kafka broker and two Kafka Connect workers (needs Java 17+ and Maven;
# the jars are fetched once into ~/.cache/connect-watchdog): a connector healed for real.
demo-kafka: $(INSTALLED)
	$(BIN)/python -m tests.e2e.kafka.demo $(DEMO_ARGS)

# The end-to-end and deploy tests need Debian's prometheus and prometheus-alertmanager (and a
# few system tools): the script installs what is missing when run as root, else says what to do.
# Line and branch coverage of the package is measured and the run fails below the floor in
# pyproject.toml ([tool.coverage.report] fail_under); `make test COVERAGE=` skips it, e.g. for a
# part of the suite (PYTEST_ARGS=tests/test_rules.py), whose coverage says nothing. The log ends
# with the 25 slowest tests, so that a CI run that takes longer than the last says where.
COVERAGE ?= --cov --cov-report=term-missing:skip-covered
test: $(INSTALLED)
	bash scripts/install-test-tools.sh $(VENV)
	$(BIN)/pytest $(COVERAGE) --durations=25 $(PYTEST_ARGS)

# The benchmarks of docs/benchmarks.md, each printing its comparison table (about 96 minutes).
bench: $(INSTALLED)
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: $(INSTALLED)
	$(BIN)/pip install --quiet -e '.[test,dev]'
	$(BIN)/ruff check watchdog tests bench
	$(BIN)/mypy watchdog bench

# The image installs exactly these pins, each checked against its sha256 (pip --require-hashes):
# requirements.lock from pyproject.toml's dependencies, build-requirements.lock for the build
# backend. Regenerate after changing dependencies, and commit both.
lock: $(INSTALLED)
	$(BIN)/pip install --quiet pip-tools
	PIP_FIND_LINKS= $(BIN)/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links \
	  --output-file requirements.lock pyproject.toml
	PIP_FIND_LINKS= $(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
	  --no-emit-find-links --output-file build-requirements.lock build-requirements.in

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .coverage .coverage.*

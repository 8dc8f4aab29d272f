# The README's commands. Each creates .venv on first use and reinstalls when a requirements file changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test soak lint format bench clean

$(VENV)/.installed-runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(VENV)/.installed-runtime $@

demo: $(VENV)/.installed-runtime
	exec $(PY) -m dashboard.runtime.launcher demo

# The import contracts first (under a second: a wrong-way import fails before the suite runs);
# mypy after pytest (10-15 s from cold), so a type error still shows the test results. mypy's
# Django plugin and the migrations check load the settings: in the embedded mode, as the tests
# do (with DATABASE_URL set, the deployment mode would ask for SECRET_KEY and the other secrets).
test: $(VENV)/.installed-dev
	$(VENV)/bin/lint-imports
	$(PY) -m dashboard.runtime.launcher run -- $(PY) -m pytest $(PYTEST_ARGS)
	EMBEDDED=1 $(PY) -m mypy
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	EMBEDDED=1 $(PY) manage.py makemigrations --check --dry-run

# Outages and load, minutes each (tests/soak): a private Redis via the launcher, as for `test`.
soak: $(VENV)/.installed-dev
	$(PY) -m dashboard.runtime.launcher run -- $(PY) -m pytest -m soak $(PYTEST_ARGS)

# Benchmarks against the simulator with real workers, Redis and database; rewrites docs/benchmarks.md.
# BENCH_ARGS="--quick" checks the scripts in a minute or two; "--only refresh,pages" picks some.
bench: $(VENV)/.installed-dev
	$(PY) -m dashboard.runtime.launcher run -- $(PY) -m bench.run_all $(BENCH_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/lint-imports
	EMBEDDED=1 $(PY) -m mypy
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.installed-dev
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean:
	rm -rf $(VENV) var staticfiles test-artifacts .mypy_cache .import_linter_cache

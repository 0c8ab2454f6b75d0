# Two commands on a fresh machine (Python 3.11 and the package registries, nothing else):
#   make demo   set everything up, then run the active-learning demo on the digits data
#   make test   set everything up, then run the test suite
# Set-up: a private uv (in .tools/) installs the locked dependency set (uv.lock) into .venv/.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
STAMP := $(VENV)/.alflow-synced
# Label Studio, the server the tests in tests/label_studio start, in an environment of its own:
# it pins Django and dozens of packages alflow's locked set does not need (alflow itself talks to
# it through label-studio-sdk, locked in uv.lock); tools/label-studio.txt is its lock
LS_ENV := $(TOOLS)/label-studio
LS_STAMP := $(LS_ENV)/.alflow-ready

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
# compile every module to bytecode once, at set-up: where PYTHONDONTWRITEBYTECODE is set (CI
# images often set it) Python otherwise recompiles FiftyOne, Prefect and scikit-learn from
# source in every process, about half the CPU of an `alflow step` and of each test subprocess
export UV_COMPILE_BYTECODE := 1

.PHONY: setup demo test test-fast ui lint format docs benchmark architecture clean lock-label-studio

setup: $(STAMP) $(LS_STAMP)

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): pyproject.toml uv.lock Makefile | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	$(VENV)/bin/python -m compileall -q -j 0 alflow flows tasks deployments plugins tests
	touch $@

# the environment, then Label Studio's migrations on an empty SQLite database, kept as the
# template every test session copies (a minute here instead of in every session)
$(LS_STAMP): tools/label-studio.txt | $(UV) $(STAMP)
	rm -rf $(LS_ENV)
	$(UV) venv --quiet --python $(PYTHON) $(LS_ENV)
	$(UV) pip sync --quiet --python $(LS_ENV)/bin/python tools/label-studio.txt
	$(VENV)/bin/python -m tests.label_studio.server template
	touch $@

# after changing tools/label-studio.in (e.g. another label-studio version)
lock-label-studio: | $(UV)
	$(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		tools/label-studio.in -o tools/label-studio.txt

demo: setup
	$(VENV)/bin/alflow demo

# one worker per core (pytest-xdist), a test file per worker at a time: each worker has its
# own state directory, mongod and Prefect harness (tests/conftest.py); most of a test's time is
# spent waiting on servers and subprocesses, so two workers halve the suite on 2 cores
TEST_WORKERS ?= 2
PYTEST := $(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile

test: setup
	$(PYTEST)

# every test but the `slow` ones (those that start long-lived processes of their own: see
# tests/README.md); the crash matrix and the CVAT stand-in rounds are in
test-fast: setup
	$(PYTEST) -m "not slow"

ui: setup
	$(VENV)/bin/alflow server

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# the configuration reference, generated from the configuration models (a unit test checks it)
docs: setup
	$(VENV)/bin/python -m alflow.config.reference > docs/configuration.md

benchmark: setup
	$(VENV)/bin/python benchmarks/label_efficiency.py

# redraw the package dependency graph in docs/architecture.md (a unit test checks it is current)
architecture: setup
	$(VENV)/bin/python docs/dependency_graph.py

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache

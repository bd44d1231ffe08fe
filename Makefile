# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
CONSTRAINTS ?= constraints.txt
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast test-faults lint install clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/lit-actmax fit --config quickstart

# Both test targets lint first (ruff's findings fail them) and list the 15 slowest tests at the end.
# pytest exits 5 when it collects no test: that is a failure of the suite, say so.
PYTEST = $(BIN)/python -m pytest --durations=15
NO_TESTS_FAILS = rc=$$?; if [ $$rc -eq 5 ]; then echo "make $@: pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check lit_actmax tests scripts

# The whole suite, as CI runs it (.ci/run).
test: lint
	-@sh scripts/ensure_chromium.sh  # best effort, for the gallery's browser test; never fails
	$(PYTEST) $(PYTEST_ARGS); $(NO_TESTS_FAILS)

# The daily loop: everything but the tests marked slow (several processes, the real models, the scripts).
test-fast: lint
	$(PYTEST) -m "not slow" $(PYTEST_ARGS); $(NO_TESTS_FAILS)

# The fault-injection suite alone (tests/test_faults.py: kills, signals, a full disk, damaged folders, rank failures,
# SLURM and torchrun on one machine). `make test` runs it too, so CI does.
test-faults: lint
	$(PYTEST) -m faults $(PYTEST_ARGS); $(NO_TESTS_FAILS)

clean-venv:
	rm -rf $(VENV)

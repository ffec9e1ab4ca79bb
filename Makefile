# Two commands for a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv demo test faults bench airflow airflow-down clean

venv: $(STAMP)

# The venv is (re)built when the pins or the package metadata change.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade "pip>=24" setuptools
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/idc --config config/demo-iceland.toml demo

# Test files are spread over one worker process per core (pytest-xdist; a file stays in one worker),
# except the files marked `forks`: they fork worker processes from the test process, which is not
# safe from xdist's multi-threaded workers (a child can inherit a lock held by another thread and
# hang), so they run in one plain process of their own, beside the xdist run (it fills the cores
# the xdist workers leave idle); their output follows the xdist run's. Fails if either fails.
test: $(STAMP)
	@log=$$(mktemp); \
	$(PY) -m pytest -q -m forks --durations=5 tests > $$log 2>&1 & pid=$$!; \
	$(PY) -m pytest -q -n auto --dist loadfile -m "not forks" --durations=15 tests; rc=$$?; \
	wait $$pid; rc2=$$?; \
	echo "== the tests marked forks (one plain process, run beside the above) =="; cat $$log; rm -f $$log; \
	test $$rc -eq 0 && test $$rc2 -eq 0

# Only the fault-injection suite (also part of `make test`): kill -9 at every write point of ingest,
# process, publish and distribute, database stopped, disk full; prints the recovered/lost table.
faults: $(STAMP)
	$(PY) -m pytest -q tests/faults

# Airflow for operators on the store of CONFIG (default: the demo's); `make airflow-down` stops it.
CONFIG ?= config/demo-iceland.toml
airflow: $(STAMP)
	$(VENV)/bin/idc --config $(CONFIG) airflow up

airflow-down: $(STAMP)
	$(VENV)/bin/idc --config $(CONFIG) airflow down

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf var .pytest_cache

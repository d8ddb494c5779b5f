# press3way: two commands. `make demo` runs a simulated multi-call; `make test` runs the tests.
# `make check` (lint, types, the stand-in tier; no root, a few minutes) is for every change.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: demo test check lint bench mariadb chromium asterisk-root venv clean

# MariaDB's server binaries (the tests and the demo start a private server; nothing else).
mariadb:
	@if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing MariaDB server binaries (apt-get install -y mariadb-server)"; \
	    (apt-get install -y mariadb-server || (apt-get update && apt-get install -y mariadb-server)) >/dev/null; \
	  else \
	    echo "MariaDB server binaries are missing: run 'sudo apt-get install -y mariadb-server'" >&2; exit 1; \
	  fi; \
	fi

# Headless Chromium for the report's HTML test (skipped with a reason when absent and not root).
chromium:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "Installing Chromium for the HTML report test (apt-get install -y chromium)"; \
	  (apt-get install -y -qq chromium || (apt-get update -qq && apt-get install -y -qq chromium)) >/dev/null 2>&1 || true; \
	fi

# Debian's Asterisk 22 in a cached root for the real-Asterisk tier (tests/asterisk); built once
# when root can (mmdebstrap installed with apt-get if missing), else one line says why not.
asterisk-root: venv
	@if ! command -v mmdebstrap >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (apt-get install -y -qq mmdebstrap || (apt-get update -qq && apt-get install -y -qq mmdebstrap)) >/dev/null 2>&1 || true; \
	fi
	@$(PY) -m press3way_testing.asterisk.root

# The same with VICIdial's Perl and PHP dependencies, for the VICIdial-server tier
# (tests/vicidial_server): a root of its own, so neither tier's root changes under the other.
.PHONY: vicidial-root
vicidial-root: asterisk-root
	@$(PY) -m press3way_testing.vicidial_server.root

$(VENV)/.installed: setup.cfg pyproject.toml testing/setup.cfg
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e . -e ./testing
	touch $@

venv: $(VENV)/.installed

demo: mariadb venv
	PATH=$(CURDIR)/$(VENV)/bin:/usr/sbin:$$PATH $(VENV)/bin/press3way demo

test: mariadb chromium venv asterisk-root vicidial-root
	PATH=$(CURDIR)/$(VENV)/bin:/usr/sbin:$$PATH $(PY) -m pytest

# ruff (pyproject.toml [tool.ruff]) over the tree, mypy (pyproject.toml [tool.mypy]) over press3way/.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Before every commit: lint, types and the stand-in tier (tests/test_*.py, marker `standins`)
# less its slow modules (tests/conftest.py, SLOW). tests/faults is not even collected: the sweep
# records its cases from real calls at collection.
check: lint mariadb
	PATH=$(CURDIR)/$(VENV)/bin:/usr/sbin:$$PATH $(PY) -m pytest -q -m "standins and not slow" \
	    --ignore=tests/faults

clean:
	rm -rf $(VENV) build *.egg-info

# Timing figures (docs/performance.md; targets in docs/behaviour.md, "Targets") with the package installed as on a server (not editable):
# on the simulator, on the real Asterisk 22 where it runs (root; single calls, then a burst of
# 50 agents and a rate ramp, per-call processes and FastAGI side by side), and DB statements
# per batch.
BENCH_VENV ?= .venv-bench
BENCH_ENV := PATH=$(CURDIR)/$(BENCH_VENV)/bin:/usr/sbin:$$PATH
bench: mariadb
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q . ./testing
	$(BENCH_ENV) $(BENCH_VENV)/bin/python bench/bench_calls.py
	$(BENCH_ENV) $(BENCH_VENV)/bin/python bench/bench_asterisk.py || echo "bench_asterisk: no real Asterisk here (the line above says why)"
	$(BENCH_ENV) $(BENCH_VENV)/bin/python bench/bench_asterisk_load.py || echo "bench_asterisk_load: no real Asterisk here (the line above says why)"
	$(BENCH_ENV) $(BENCH_VENV)/bin/python bench/bench_db.py
	$(BENCH_ENV) $(BENCH_VENV)/bin/python bench/bench_startup.py

# wardwatch: two commands do all the set-up on a fresh machine.
#   make demo   create .venv, install, run the demo (capture, CMMS, recalls, feeds) into var/demo.sqlite,
#               print inventory, findings and recalls, then serve the web UI when run on a terminal
#   make test   create .venv, install, run ruff, mypy and the whole test suite
PY      ?= python3
VENV    ?= .venv
BIN      = $(VENV)/bin
STAMP    = $(VENV)/.installed
DEMO_DB ?= var/demo.sqlite

# What runs a second time on the source of the compiled modules: their own tests, the golden
# captures through the whole engine, identification and the inventory build.
PURE_TESTS = tests/unit/dissect tests/golden tests/unit/identify tests/unit/inventory \
	tests/unit/flows/test_flows_engine.py tests/unit/flows/test_streams.py tests/unit/test_compiled.py

.PHONY: demo serve test lint typecheck unit install browser clean bench

# setup.py builds the optional C extension (src/wardwatch/sensor/*.c): a change to it reinstalls.
$(STAMP): pyproject.toml setup.py $(wildcard src/wardwatch/sensor/*.[ch])
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# An editable install compiles nothing; without bytecode every start compiles the sources
	# again where PYTHONDONTWRITEBYTECODE is set.
	$(BIN)/python -m compileall -q src
	touch $(STAMP)

# mypyc compiles the modules listed in src/wardwatch/_pure.py (ADR 013); it runs here, in the
# venv, because it type-checks them against the installed libraries. Optional: where it cannot,
# a warning says so and wardwatch runs those modules as Python.
COMPILED := $(VENV)/.compiled
$(COMPILED): $(STAMP) src/wardwatch/_pure.py $(wildcard src/wardwatch/sensor/dissect/*.py) \
		src/wardwatch/sensor/flows/engine.py src/wardwatch/inventory/build.py src/wardwatch/identify/engine.py
	$(BIN)/python setup.py -q build_ext --inplace > $(VENV)/build.log 2>&1 || (cat $(VENV)/build.log; exit 1)
	-@grep -h "^warning: .*wardwatch will run" $(VENV)/build.log
	touch $(COMPILED)

install: $(STAMP) $(COMPILED)

# Debian's Chromium for the browser tests (never a browser download of a test tool's own), and the
# real protocol peers the live-sensor test runs (dnsmasq, dhclient, curl, tcpdump, tshark). Tests
# that need them skip, saying why, where they cannot be installed.
browser:
	-bash tools/install_browser.sh || echo "warning: chromium not installed; the browser tests will skip"
	-bash tools/install_test_peers.sh || echo "warning: test peers not installed; the tests needing them will skip"

demo: install
	DEMO_DB=$(DEMO_DB) BIN=$(BIN) bash tools/demo.sh

serve: install
	$(BIN)/wardwatch --db sqlite:///$(DEMO_DB) serve

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q -n 2
	# The same tests of the mypyc-compiled modules on their Python source (ADR 013).
	WARDWATCH_PURE_PYTHON=1 $(BIN)/pytest -q -n 2 $(PURE_TESTS)

test: browser lint typecheck unit

bench: install
	$(BIN)/pip install -q -e '.[dev,bench]'
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var build *.egg-info

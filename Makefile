# wardwatch: two commands do all the set-up on a fresh machine.
#   make demo   create .venv, install, run the demo (capture, CMMS, recalls, feeds) into var/demo.sqlite,
#               print inventory, findings and recalls, then serve the web UI when run on a terminal
#   make test   create .venv, install, run ruff, mypy and the whole test suite
PY      ?= python3
VENV    ?= .venv
BIN      = $(VENV)/bin
STAMP    = $(VENV)/.installed
DEMO_DB ?= var/demo.sqlite

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

install: $(STAMP)

# Debian's Chromium for the browser tests (never a browser download of a test tool's own), and the
# real protocol peers the live-sensor test runs (dnsmasq, dhclient, curl, tcpdump, tshark). Tests
# that need them skip, saying why, where they cannot be installed.
browser:
	-bash tools/install_browser.sh || echo "warning: chromium not installed; the browser tests will skip"
	-bash tools/install_test_peers.sh || echo "warning: test peers not installed; the tests needing them will skip"

demo: $(STAMP)
	DEMO_DB=$(DEMO_DB) BIN=$(BIN) bash tools/demo.sh

serve: $(STAMP)
	$(BIN)/wardwatch --db sqlite:///$(DEMO_DB) serve

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q -n 2

test: browser lint typecheck unit

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[dev,bench]'
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var build *.egg-info

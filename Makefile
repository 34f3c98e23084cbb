# wardwatch: two commands do all the set-up on a fresh machine.
#   make demo   create .venv, install, discover the bundled demo capture, print the inventory
#   make test   create .venv, install, run ruff, mypy and the whole test suite
PY      ?= python3
VENV    ?= .venv
BIN      = $(VENV)/bin
STAMP    = $(VENV)/.installed
DEMO_DB ?= var/demo.sqlite

.PHONY: demo test lint typecheck unit install clean bench

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	mkdir -p var
	$(BIN)/wardwatch --db sqlite:///$(DEMO_DB) discover src/wardwatch/demo/hospital-demo.pcap.gz
	$(BIN)/wardwatch --db sqlite:///$(DEMO_DB) devices

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q -n 2

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var build *.egg-info

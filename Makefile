# mailctl — every target creates .venv and installs the project first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## run: the daemon on configs/ against the local sink (Ctrl-C stops both)
run: $(STAMP)
	$(VENV)/bin/python -m reconciler.devtools.demo

## test: the whole suite
test: $(STAMP)
	$(PY) -m pytest -q

## lint: ruff, ruff format, mypy, the layer contracts (docs/architecture.md), and our own
## validate on configs/ and examples/
lint: $(STAMP)
	$(VENV)/bin/ruff check reconciler tests bench
	$(VENV)/bin/ruff format --check reconciler tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mailctl validate configs examples

## bench: data generator + harness (see bench/README.md)
bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache

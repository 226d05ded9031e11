# vigil: every target keeps its virtualenv in .venv/ and creates it when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: build check test fmt fmt-check bench validate clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

validate: $(STAMP)
	$(BIN)/vigil validate

# Build the example catalog into output/, proving it with the generated promtool tests first.
build: $(STAMP)
	$(BIN)/vigil build --test

# Every check on the committed output/.
check: $(STAMP)
	$(BIN)/vigil check

test: $(STAMP)
	$(BIN)/pytest -q -n 2

fmt:
	jsonnetfmt -i generators/*.jsonnet generators/lib/*.libsonnet

fmt-check:
	jsonnetfmt --test generators/*.jsonnet generators/lib/*.libsonnet

bench: $(STAMP)
	$(BIN)/python bench/build_scale.py

clean:
	rm -rf $(VENV) .vigil-cache .pytest_cache

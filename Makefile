# vigil: every target keeps its virtualenv in .venv/ and creates it when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: build check test fmt fmt-check bench validate clean deploy diff demo

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

# Push to the stack named by the environment (docs/deploy.md); DEPLOY_ARGS="--dry-run --prune ...".
deploy: $(STAMP)
	$(BIN)/vigil deploy $(DEPLOY_ARGS)

diff: $(STAMP)
	$(BIN)/vigil diff $(DIFF_ARGS)

# The whole loop on a real Prometheus and Alertmanager: build, start the local stack, deploy a
# short-timing copy of the catalog, break checkout, show who was told when, draw the dashboards.
demo: $(STAMP)
	$(BIN)/vigil build
	$(BIN)/vigil stack up
	$(BIN)/vigil drill --service checkout --fault error_spike
	. .vigil-stack/env && $(BIN)/vigil preview --out .vigil-stack/drill/output --dest .vigil-stack/preview --range 15m
	@echo "dashboards drawn to .vigil-stack/preview/; the stack keeps running: '$(BIN)/vigil stack status', '$(BIN)/vigil stack down'"

fmt:
	jsonnetfmt -i generators/*.jsonnet generators/lib/*.libsonnet

fmt-check:
	jsonnetfmt --test generators/*.jsonnet generators/lib/*.libsonnet

# Every benchmark (bench/run.py): compile, evaluate, detect, deploy; rewrites bench/results.md and
# bench/*.png. About 45 minutes on 2 (busy) cores; BENCH_ARGS=--quick about 5. One part:
# `$(BIN)/python bench/run.py deploy --quick`.
bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .vigil-cache .pytest_cache .vigil-stack

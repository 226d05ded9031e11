# vigil: every target keeps its virtualenv in .venv/ and creates it when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Both tool generations (scripts/tools.sh): Debian 12's Prometheus 2.42 / Alertmanager 0.25 and
# sid's Prometheus 3.5 / Alertmanager 0.33 / VictoriaMetrics 1.145, unpacked here, never installed.
TOOLS  := $(CURDIR)/.tools
TOOLS_STAMP := $(TOOLS)/.fetched
# The current generation is the default for every command run from here.
export PATH := $(TOOLS)/current/bin:$(TOOLS)/jsonnet/bin:$(PATH)
export VIGIL_TOOLS_DIR := $(TOOLS)

.PHONY: build check test lint fmt fmt-check bench validate clean deploy diff demo tools

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

tools: $(TOOLS_STAMP)
$(TOOLS_STAMP): scripts/tools.sh
	scripts/tools.sh $(TOOLS)
	touch $@

validate: $(STAMP)
	$(BIN)/vigil validate

# Build the example catalog into output/, proving it with the generated promtool tests first.
build: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/vigil build --test

# Every check on the committed output/.
check: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/vigil check

# The habits CI enforces: ruff (lint and format), mypy, jsonnetfmt; then every test.
test: lint
	scripts/browser.sh
	$(BIN)/pytest -q -n 2

lint: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	jsonnetfmt --test generators/*.jsonnet generators/lib/*.libsonnet

# Push to the stack named by the environment (docs/deploy.md); DEPLOY_ARGS="--dry-run --prune ...".
deploy: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/vigil deploy $(DEPLOY_ARGS)

diff: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/vigil diff $(DIFF_ARGS)

# The whole loop on a real Prometheus and Alertmanager: build, start the local stack, deploy a
# short-timing copy of the catalog, break checkout, show who was told when, draw the dashboards,
# draft the drill's postmortem.
demo: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/vigil build
	$(BIN)/vigil stack up
	$(BIN)/vigil drill --service checkout --fault error_spike
	. .vigil-stack/env && $(BIN)/vigil preview --out .vigil-stack/drill/output --dest .vigil-stack/preview --range 15m
	@echo "dashboards drawn to .vigil-stack/preview/"
	# The drill's postmortem: the last 3 minutes hold its fault, alerts and notifications. Written
	# beside the drill's catalog (it validates with it), so the repository stays clean.
	. .vigil-stack/env && $(BIN)/vigil --catalog .vigil-stack/drill/catalog postmortem draft --service checkout \
		--from -3m --alertmanager "$$ALERTMANAGER_URL" --dest .vigil-stack/drill/postmortems
	@echo "the stack keeps running: '$(BIN)/vigil stack status', '$(BIN)/vigil stack down'"

fmt: $(STAMP) $(TOOLS_STAMP)
	jsonnetfmt -i generators/*.jsonnet generators/lib/*.libsonnet
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

fmt-check: $(TOOLS_STAMP)
	jsonnetfmt --test generators/*.jsonnet generators/lib/*.libsonnet

# Every benchmark (bench/run.py): compile, evaluate, detect, deploy; rewrites bench/results.md and
# bench/*.png. About 45 minutes on 2 (busy) cores; BENCH_ARGS=--quick about 5. One part:
# `$(BIN)/python bench/run.py deploy --quick`.
bench: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .vigil-cache .pytest_cache .vigil-stack $(TOOLS)

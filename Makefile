# kontext-preview: `make serve` runs the service, `make test` runs the whole suite.
# Both start from a fresh machine: they create the virtualenv, install the Python
# packages, prepare the Vite template (npm, install scripts disabled) and, for the
# tests, Debian's Chromium.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TEMPLATE := sandbox-images/template
NODE_MIN := 20.19
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: serve test bench lint template chromium node-check clean

serve: $(VENV)/.serve-installed template
	$(PY) -m kontext_preview serve

test: $(VENV)/.test-installed template chromium
	$(VENV)/bin/ruff check kontext_preview workers tests benchmarks
	$(VENV)/bin/mypy
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.test-installed template chromium
	$(PY) -m benchmarks.update_latency
	$(PY) -m benchmarks.classification

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check kontext_preview workers tests benchmarks
	$(VENV)/bin/ruff format --check kontext_preview workers
	$(VENV)/bin/mypy

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.serve-installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.serve-installed

template: node-check $(TEMPLATE)/node_modules/.package-lock.json

$(TEMPLATE)/node_modules/.package-lock.json: $(TEMPLATE)/package.json $(TEMPLATE)/package-lock.json
	cd $(TEMPLATE) && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

node-check:
	@command -v node >/dev/null || { echo "Node.js $(NODE_MIN)+ is needed (it runs Vite); install it and retry" >&2; exit 1; }
	@node -e 'const [a,b]=process.versions.node.split(".").map(Number), [x,y]="$(NODE_MIN)".split(".").map(Number); if (a<x||(a===x&&b<y)) { console.error(`Node.js $${process.versions.node} is too old for Vite 8; $(NODE_MIN)+ is needed`); process.exit(1) }'

chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

clean:
	rm -rf $(VENV) $(TEMPLATE)/node_modules

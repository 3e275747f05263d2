# kontext-preview: `make serve` runs the service, `make test` runs the whole suite.
# Both start from a fresh machine: they create the virtualenv, install the Python
# packages, prepare the Vite template (npm, install scripts disabled) and, for the
# tests, Debian's Chromium, Redis and Docker engine (started if none runs) and the
# sandbox image (built locally).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TEMPLATE := sandbox-images/template
DEPLOYER := sandbox-images/deployer
AGENT := sandbox-images/agent
MANAGERS := sandbox-images/managers
NODE_MIN := 20.19
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=
# The sandbox image's base: an official Node image where a registry is reachable
# (`make sandbox-image SANDBOX_BASE=node:22-bookworm-slim`), else one assembled from this
# machine's Node (sandbox-images/build-local-base.sh).
SANDBOX_BASE ?= kontext-node-base:local
SANDBOX_IMAGE ?= kontext-sandbox:latest
DOCKERD_LOG ?= /var/log/kontext-dockerd.log

.PHONY: serve test bench lint template playground client client-types agent-schema chromium redis docker sandbox-image node-check clean

serve: $(VENV)/.serve-installed template playground
	$(PY) -m kontext_preview serve

test: $(VENV)/.test-installed template playground client chromium redis sandbox-image
	$(VENV)/bin/ruff check kontext_preview workers tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.test-installed template playground chromium redis sandbox-image
	$(PY) -m benchmarks.suite
	$(PY) -m benchmarks.stacks
	$(PY) -m benchmarks.lifecycle
	$(PY) -m benchmarks.replay
	$(PY) -m benchmarks.frameworks
	$(PY) -m benchmarks.inspect
	$(PY) -m benchmarks.deploy_load
	$(PY) -m benchmarks.memory
	$(PY) -m benchmarks.load
	$(PY) -m benchmarks.load --distributed --streams 0,300,1000

lint: $(VENV)/.test-installed template
	$(VENV)/bin/ruff check kontext_preview workers tests benchmarks
	$(VENV)/bin/ruff format --check kontext_preview workers
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	cd $(AGENT) && tools/node_modules/.bin/eslint --config tools/eslint.config.js .

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.serve-installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.serve-installed

STACKS := $(patsubst %/package.json,%/node_modules/.package-lock.json,$(wildcard sandbox-images/stacks/*/package.json))

template: node-check $(TEMPLATE)/node_modules/.package-lock.json $(STACKS) $(DEPLOYER)/node_modules/.package-lock.json $(AGENT)/node_modules/.package-lock.json $(AGENT)/tools/node_modules/.package-lock.json $(MANAGERS)/node_modules/.package-lock.json

# The Vite template every preview reuses, the stack templates (sandbox-images/stacks: the
# dependency sets AI app builders emit), the local deployer's tools (the Motoko compiler) and
# the agent's own packages (npm's spec parser and semver), its development tools (Ajv, ESLint;
# agent/tools, not in the image) and the package managers a project's
# lockfile may ask for (Yarn, pnpm, bun; kontext_preview/sandbox/managers.py).
sandbox-images/%/node_modules/.package-lock.json: sandbox-images/%/package.json sandbox-images/%/package-lock.json
	cd sandbox-images/$* && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# The TypeScript client and React component (clients/typescript): its packages, and its
# types made again from the API's OpenAPI schema (run after changing the API; a test fails
# while they are stale).
CLIENT := clients/typescript
client: node-check $(CLIENT)/node_modules/.package-lock.json

$(CLIENT)/node_modules/.package-lock.json: $(CLIENT)/package.json $(CLIENT)/package-lock.json
	cd $(CLIENT) && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# The agent protocol's schema (from kontext_preview/sandbox/protocol.py) and the agent's
# validators made from it (Ajv's standalone code): run after changing the protocol's models
# (a test fails while they are stale).
agent-schema: $(VENV)/.serve-installed template
	$(PY) -c 'from kontext_preview.sandbox.protocol import schema_text; print(schema_text(), end="")' > $(AGENT)/protocol.schema.json
	cd $(AGENT) && node tools/make-validators.mjs

client-types: $(VENV)/.serve-installed client
	$(PY) -m kontext_preview openapi > $(CLIENT)/openapi.json
	cd $(CLIENT) && npm run --silent types

# The playground page (kontext_preview/playground/web): CodeMirror from npm, bundled by Vite.
PLAYGROUND := kontext_preview/playground
playground: node-check client $(PLAYGROUND)/dist/index.html

$(PLAYGROUND)/dist/index.html: $(PLAYGROUND)/web/package.json $(PLAYGROUND)/web/package-lock.json $(PLAYGROUND)/web/index.html $(PLAYGROUND)/web/vite.config.js $(wildcard $(PLAYGROUND)/web/src/*) $(wildcard $(CLIENT)/src/*)
	cd $(PLAYGROUND)/web && npm ci --ignore-scripts --no-audit --no-fund && npx --no-install vite build --logLevel warn

node-check:
	@command -v node >/dev/null || { echo "Node.js $(NODE_MIN)+ is needed (it runs Vite); install it and retry" >&2; exit 1; }
	@node -e 'const [a,b]=process.versions.node.split(".").map(Number), [x,y]="$(NODE_MIN)".split(".").map(Number); if (a<x||(a===x&&b<y)) { console.error(`Node.js $${process.versions.node} is too old for Vite 8; $(NODE_MIN)+ is needed`); process.exit(1) }'

chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# The distributed-mode tests use the machine's Redis on 127.0.0.1:6379 (db 13, keys under a
# prefix of their own). Start one if it is installed but not running; install it if absent.
redis:
	@$(PY) -c 'import redis; redis.Redis(socket_connect_timeout=1).ping()' 2>/dev/null || { \
	  command -v redis-server >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server >/dev/null; }; \
	  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no; \
	  for i in 1 2 3 4 5 6 7 8 9 10; do $(PY) -c 'import redis; redis.Redis().ping()' 2>/dev/null && break; sleep 0.5; done; }

# The Docker engine for the docker sandbox backend: Debian's docker.io, and dockerd started
# if none answers (it keeps running; stop it by its pid, in /var/run/docker.pid).
docker:
	@docker info >/dev/null 2>&1 || { \
	  command -v dockerd >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq docker.io >/dev/null; }; \
	  echo "starting dockerd (log: $(DOCKERD_LOG))"; \
	  $(SUDO) sh -c 'nohup dockerd </dev/null >>$(DOCKERD_LOG) 2>&1 &'; \
	  for i in $$(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done; \
	  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see $(DOCKERD_LOG)" >&2; exit 1; }; }

# The image every docker-backend session runs in (sandbox-images/Dockerfile), built locally.
sandbox-image: template docker
	@if [ "$(SANDBOX_BASE)" = kontext-node-base:local ]; then \
	  bash sandbox-images/build-local-base.sh $(SANDBOX_BASE); fi
	docker build -q --build-arg BASE=$(SANDBOX_BASE) -t $(SANDBOX_IMAGE) sandbox-images

clean:
	rm -rf $(VENV) $(TEMPLATE)/node_modules sandbox-images/stacks/*/node_modules $(DEPLOYER)/node_modules $(AGENT)/node_modules $(AGENT)/tools/node_modules $(MANAGERS)/node_modules $(PLAYGROUND)/web/node_modules $(PLAYGROUND)/dist

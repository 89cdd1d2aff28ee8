# Two commands: `make run` (serve the API on the embedded DynamoDB) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
CHROMIUM := /usr/bin/chromium

.PHONY: run test install lint typecheck lock clean lambda image bench redis-server

$(BIN)/uv:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

install: $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .

run: install
	$(BIN)/python -m scripts.run_local

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# The suite on the embedded moto server, then the integration tests again on dynalite (a second,
# stricter DynamoDB implementation without transactions, streams or TTL: those tests are left out;
# it has no KMS either, so the fixtures start an embedded moto server for KMS only).
test: lint typecheck node_modules/.bin/dynalite redis-server $(CHROMIUM)
	$(BIN)/pytest
	DDB_TARGET=dynalite $(BIN)/pytest -m "not transactions and not streams and not ttl" \
		tests/routers tests/scripts tests/faults tests/streams tests/encryption

# The event-bus tests start a real Redis server (Debian's redis-server), installed with
# apt-get when missing (as root, as CI runs).
redis-server:
	@command -v redis-server >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server; }

# The browser tests drive Debian's Chromium through Playwright (Playwright cannot download its
# own browsers here); the emoji font lets screenshots show emoji. Needs root, as CI has.
$(CHROMIUM):
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-color-emoji

node_modules/.bin/dynalite: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Benchmark: results in bench/results/ (BENCH_ARGS=--quick: a smoke run). dynalite comes from
# package-lock.json; without node/npm everything runs on moto.
bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Deployment helpers (see deploy/README.md).
lambda: install
	$(BIN)/python -m deploy.build_lambda --out build/lambda.zip

image:
	docker build -t cruddur-messaging .

# Regenerate the lock after changing dependencies in pyproject.toml.
lock: $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes \
		--no-header -q -o requirements.lock

clean:
	rm -rf $(VENV) .local .pytest_cache .mypy_cache .ruff_cache node_modules

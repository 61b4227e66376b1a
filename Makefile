# Every target installs what it needs into .venv first, so a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install system-packages demo run test check lint format bench soak clean

# Debian packages the browser tests of the web console need: Chromium driven by Playwright (no browser
# download) and a CJK font, or Chinese pages render as empty boxes. Installed once, as root or with sudo.
SYSTEM_PACKAGES := chromium chromium-driver fonts-noto-cjk
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

system-packages:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  $(SUDO) apt-get install -y --no-install-recommends $$missing >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y --no-install-recommends $$missing; }; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)  ## seed a demo hub on SQLite + var/ and serve it on 127.0.0.1:8000 (HUB_PORT to change)
	$(BIN)/hub demo

run: $(STAMP)  ## serve with the settings in the environment / .env
	$(BIN)/hub serve

# pytest-xdist spreads the suite over the cores; each worker makes its own databases, folders and S3 server.
TEST_WORKERS ?= auto

test: $(STAMP) system-packages  ## the whole suite on SQLite, PostgreSQL, the local object folder and SeaweedFS S3
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

check: lint  ## the edit loop: lint, then the suite on SQLite and the local folder only (no PostgreSQL, no S3)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) -m "not postgres and not s3"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)  ## every figure beside its ceiling measured in the same run; writes bench/results.md, .json, PNGs (~30 min)
	$(BIN)/python -m bench

soak: $(STAMP)  ## longer fault runs (kill during ingest, repeated)
	$(BIN)/python -m pytest -q -m soak --run-soak

clean:
	rm -rf $(VENV) var .pytest_cache

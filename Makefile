# scangrade: every target installs what it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-installed-stamp

.PHONY: install chromium demo test test-unit test-integration test-e2e lint format bench enqueue watch status workers serve migrate simulator up down clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,simulator]'
	@# The simulator and the dev kit are not in the wheel: the clone's root goes on the venv's path.
	$(BIN)/python -c 'import pathlib, sysconfig; pathlib.Path(sysconfig.get_paths()["purelib"], "scangrade-clone.pth").write_text("$(CURDIR)\n")'
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,simulator,bench]'
	touch $(BENCH_STAMP)

install: $(STAMP)

demo: install
	$(BIN)/scangrade demo

# Every tier on three xdist workers, a module to a worker (its services are shared by its
# tests), the slowest modules first (tests/conftest.py), then the `serial` tests alone: they
# freeze a worker or count calls and lose to a busy CPU. Three on two cores, because end-to-end
# tests mostly wait for workers and the simulator (806 s against 951 s with two, measured on
# this 2-core kind of machine).
PYTEST := $(BIN)/python -m pytest -q
XDIST  := -n 3 --dist loadfile --no-loadscope-reorder
test: install chromium
	@status=0; \
	$(PYTEST) $(XDIST) -m 'not serial' tests || status=$$?; \
	$(PYTEST) -m serial tests || status=$$?; \
	exit $$status

# The quick loop: no Postgres, Redis, S3 or simulator needed.
test-unit: install
	$(PYTEST) -n 2 tests/unit

test-integration: install
	$(PYTEST) $(XDIST) tests/integration

test-e2e: install chromium
	$(PYTEST) $(XDIST) tests/e2e

# tests/e2e/test_report.py opens the report in headless Chromium (Debian's package).
chromium:
	@command -v chromium >/dev/null || { \
	  sudo=$$(test "$$(id -u)" -eq 0 || echo sudo); \
	  $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The whole pipeline against the simulator; options: make bench ARGS="--pages 100 --scale 5"
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench $(ARGS)

lint: install
	$(BIN)/ruff check pipeline workers simulator devkit bench tests
	$(BIN)/ruff format --check pipeline workers simulator devkit bench tests
	$(BIN)/mypy

format: install
	$(BIN)/ruff format pipeline workers simulator devkit bench tests
	$(BIN)/ruff check --fix pipeline workers simulator devkit bench tests

enqueue: install
	@test -n "$(DIR)" || (echo "usage: make enqueue DIR=/scans/2026-11-21" >&2; exit 2)
	$(BIN)/scangrade enqueue "$(DIR)" --wait

# Keep taking what a scanner drops into DIR (a batch per day); Ctrl-C stops.
watch: install
	@test -n "$(DIR)" || (echo "usage: make watch DIR=/srv/scanner-share [NOTIFY=https://...]" >&2; exit 2)
	$(BIN)/scangrade watch "$(DIR)" $(if $(NOTIFY),--notify "$(NOTIFY)")

# A batch's live progress until it ends: make status BATCH=2026-11-21
status: install
	@test -n "$(BATCH)" || (echo "usage: make status BATCH=name-or-id" >&2; exit 2)
	$(BIN)/scangrade status "$(BATCH)" --watch

workers: install
	$(BIN)/scangrade workers

# The teachers' web app on 127.0.0.1:8080: make serve [HOST=0.0.0.0 PORT=8080] (any HOST but
# loopback needs SCANGRADE_WEB_SECRET); accounts: scangrade users add.
serve: install
	$(BIN)/scangrade serve $(if $(HOST),--host "$(HOST)") $(if $(PORT),--port "$(PORT)")

migrate: install
	$(BIN)/scangrade migrate

simulator: install
	$(BIN)/scangrade simulator

# Postgres, Redis, MinIO, the workers, beat, the web app and Flower; PROFILE=dry-run adds the simulator
# (with SCANGRADE_BAIDU_BASE_URL=http://simulator:8700).
# Compose refuses to start without SCANGRADE_WEB_SECRET (the web app's cookie key): the
# environment's if set, else one made once and kept in var/web-secret, so sessions outlive an up.
WEB_SECRET_FILE := var/web-secret
COMPOSE = SCANGRADE_WEB_SECRET="$${SCANGRADE_WEB_SECRET:-$$(cat $(WEB_SECRET_FILE))}" \
	docker compose $(if $(PROFILE),--profile $(PROFILE))

$(WEB_SECRET_FILE):
	@mkdir -p $(@D)
	@umask 077; $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(32))' > $@

up: $(WEB_SECRET_FILE)
	$(COMPOSE) up -d

down: $(WEB_SECRET_FILE)
	$(COMPOSE) down

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

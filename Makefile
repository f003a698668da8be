# Restore24 — `make run` starts the demo, `make test` runs every test. Both set up what they need.
# bash: the test target reads PIPESTATUS
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := app
TRANSLATIONS := core dispatch/orders dispatch/deadlines dispatch/reports dispatch/livemap field inventory

.PHONY: run test test-sqlite test-postgres venv venv-test venv-bench translations chromium bench load chaos soak messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-test: requirements.txt requirements-test.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-test.txt
	touch $@

# locust for bench/load/ only: `make bench` and `make load` install it, `make test` does not
$(VENV)/.installed-bench: requirements-bench.txt $(VENV)/.installed-test
	$(BIN)/pip install --quiet -r requirements-bench.txt
	touch $@

venv: $(VENV)/.installed
venv-test: $(VENV)/.installed-test
venv-bench: $(VENV)/.installed-bench

translations: venv
	@$(BIN)/flask translations compile

# Update the catalogues after changing UI strings: extract per package, merge into zh_CN.
messages: venv
	@for pkg in $(TRANSLATIONS); do \
	  src=$$pkg; [ $$pkg = core ] && src="core templates app.py"; \
	  $(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_pgettext:1c,2 -o $$pkg/translations/messages.pot $$src && \
	  if [ -f $$pkg/translations/zh_CN/LC_MESSAGES/messages.po ]; then \
	    $(BIN)/pybabel update -N -i $$pkg/translations/messages.pot -d $$pkg/translations; \
	  else $(BIN)/pybabel init -i $$pkg/translations/messages.pot -d $$pkg/translations -l zh_CN; fi; \
	done

# Debian's Chromium for the browser tests, and a CJK font so Chinese pages render in screenshots.
chromium:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi wenquanyi; then \
	  echo "Installing Chromium and fonts-wqy-microhei from Debian's packages"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
	fi

# One process: the dev server runs the worker (tick and alert delivery) as threads of its own.
# Production runs gunicorn with no scheduler and `flask worker` beside it (README, Processes).
# The demo's customer links point at the local server (production sets PUBLIC_BASE_URL itself).
run: export FLASK_PUBLIC_BASE_URL ?= http://127.0.0.1:5000
run: venv translations
	$(BIN)/flask db upgrade
	$(BIN)/flask push vapid >/dev/null 2>&1 || true
	$(BIN)/flask demo --if-empty
	FLASK_SCHEDULER_ENABLED=true $(BIN)/flask run --host 127.0.0.1 --port 5000

# The two passes use separate databases, so with PostgreSQL they run side by side: each spends much of
# its time waiting (on Chromium, on the server), and together they end sooner than one after the other.
test: venv-test translations chromium
	@echo "== ruff check"
	$(BIN)/ruff check .
	@if [ -n "$$TEST_POSTGRES_URL" ]; then \
	  echo "== test suite on SQLite and on PostgreSQL, side by side (lines prefixed [sqlite] / [postgres])"; \
	  ( $(MAKE) --no-print-directory test-sqlite 2>&1 | sed -u 's/^/[sqlite] /'; exit $${PIPESTATUS[0]} ) & lite=$$!; \
	  ( $(MAKE) --no-print-directory test-postgres 2>&1 | sed -u 's/^/[postgres] /'; exit $${PIPESTATUS[0]} ) & pg=$$!; \
	  wait $$lite; l=$$?; wait $$pg; p=$$?; \
	  echo "== SQLite pass: $$( [ $$l = 0 ] && echo passed || echo FAILED ); PostgreSQL pass: $$( [ $$p = 0 ] && echo passed || echo FAILED )"; \
	  [ $$l = 0 ] && [ $$p = 0 ]; \
	else $(MAKE) --no-print-directory test-sqlite || exit 1; echo "TEST_POSTGRES_URL not set: PostgreSQL pass not run"; fi

test-sqlite:
	@echo "== test suite on SQLite"
	TEST_DATABASE=sqlite $(BIN)/python -m pytest -q -n 2 $(PYTEST_ARGS)

test-postgres:
	@echo "== test suite on PostgreSQL"
	TEST_DATABASE=postgres $(BIN)/python -m pytest -q -n 2 $(PYTEST_ARGS)

bench: venv-bench
	@for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

# Peak load on PostgreSQL (bench/load/README.md): LOAD_ARGS="--minutes 3 --intake-rate 5" to shorten
load: venv-bench translations
	$(BIN)/python bench/load/run.py $(LOAD_ARGS)

chaos: venv-bench translations
	$(BIN)/python bench/load/chaos.py $(CHAOS_ARGS)

soak: venv-bench translations
	$(BIN)/python bench/load/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) instance test-artifacts

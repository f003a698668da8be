# Restore24 — `make run` starts the demo, `make test` runs every test. Both set up what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := app
TRANSLATIONS := core dispatch/orders dispatch/deadlines dispatch/reports dispatch/livemap field inventory

.PHONY: run test test-sqlite test-postgres venv venv-test translations chromium bench messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-test: requirements.txt requirements-test.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-test.txt
	touch $@

venv: $(VENV)/.installed
venv-test: $(VENV)/.installed-test

translations: venv
	@$(BIN)/flask translations compile

# Update the catalogues after changing UI strings: extract per package, merge into zh_CN.
messages: venv
	@for pkg in $(TRANSLATIONS); do \
	  src=$$pkg; [ $$pkg = core ] && src="core templates app.py"; \
	  $(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o $$pkg/translations/messages.pot $$src && \
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

test: venv-test translations chromium
	@echo "== ruff check"
	$(BIN)/ruff check .
	$(MAKE) --no-print-directory test-sqlite
	@if [ -n "$$TEST_POSTGRES_URL" ]; then $(MAKE) --no-print-directory test-postgres; \
	 else echo "TEST_POSTGRES_URL not set: PostgreSQL pass not run"; fi

test-sqlite:
	@echo "== test suite on SQLite"
	TEST_DATABASE=sqlite $(BIN)/python -m pytest -q -n 2 $(PYTEST_ARGS)

test-postgres:
	@echo "== test suite on PostgreSQL"
	TEST_DATABASE=postgres $(BIN)/python -m pytest -q -n 2 $(PYTEST_ARGS)

bench: venv-test
	@for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) instance test-artifacts

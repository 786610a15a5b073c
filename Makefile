# Interlock: `make run` starts everything on the embedded default; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FLASK_APP := wsgi

.PHONY: run test install lint bench bench-smoke migration clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel setuptools

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e ".[test,bench]"
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo
	$(BIN)/flask up

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check referral_app blueprints tests bench wsgi.py

bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-smoke: install
	$(BIN)/python bench/run.py --smoke

# Regenerate the initial revision from the models (only while nothing is deployed).
migration: install
	rm -rf /tmp/interlock-migration && rm -f migrations/versions/0001_*.py
	INSTANCE_PATH=/tmp/interlock-migration DATABASE_URL= $(BIN)/flask db migrate --rev-id 0001 -m "initial schema"

clean:
	rm -rf $(VENV) instance .pytest_cache

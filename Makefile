# Inbox311 developer commands. `make run` and `make test` are the two the README promises.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test venv lint migration bench model

$(BIN)/python:
	$(PY) -m venv $(VENV)

venv: $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .

run: venv
	$(BIN)/inbox311 serve $(if $(CONFIG),--config $(CONFIG),)

test:
	bash .ci/run

lint:
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# Add a schema revision after changing storage/models.py: make migration MSG="add thing"
migration:  
	$(BIN)/python -m storage.migrations.autogen "$(MSG)"
	rm -f /tmp/inbox311-autogen.db
	$(BIN)/python -c "from storage.db import upgrade_sync; upgrade_sync('sqlite+aiosqlite:////tmp/inbox311-autogen.db')"
	$(BIN)/alembic -x url=sqlite+aiosqlite:////tmp/inbox311-autogen.db -c storage/migrations/alembic.ini revision --autogenerate -m "$(MSG)"

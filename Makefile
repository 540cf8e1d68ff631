# Inbox311 developer commands. `make run` and `make test` are the two the README promises.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test venv lint migration bench model

# Create .venv (python3.11) and install requirements.lock + this project (editable); a stamp in .venv makes
# the second run a no-op. A lock older than pyproject.toml's dependencies is refused: run `bash .ci/lock`.
venv:
	PYTHON=$(PY) bash .ci/venv requirements.lock

run: venv
	$(BIN)/inbox311 serve $(if $(CONFIG),--config $(CONFIG),)

# Everything CI does: Debian packages, venv from requirements-test.lock, servers, ruff, pytest.
test:
	bash .ci/run

lint:
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# Add a schema revision after changing storage/models.py: make migration MSG="add thing"
migration:
	$(BIN)/python -m storage.migrations.autogen "$(MSG)"

# The two commands a newcomer needs: `make run` and `make test`. Both create the virtual environment.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench messages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m playground --bot-if-token

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bot handlers web presentation services payments storage emulator playground

test: lint
	scripts/ensure-postgres
	scripts/ensure-chromium
	scripts/ensure-nginx
	$(BIN)/pytest -q -n 2

bench: $(STAMP)
	$(BIN)/python -m bench

# Re-extract the English source strings and merge them into the Chinese catalog.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-location -o /tmp/daifu-messages.pot .
	$(BIN)/pybabel update -i /tmp/daifu-messages.pot -d services/locales -D messages -l zh_Hans --no-fuzzy-matching

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

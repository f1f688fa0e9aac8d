# The two commands a newcomer needs: `make run` and `make test`. Both create the virtual environment.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint lock bench messages clean

# Installed from the lock, hashes checked: the versions CI and every developer get are the ones in
# requirements/dev.txt, never whatever the package index serves that day. The lock pins pip and setuptools too,
# and daifu itself is built with that setuptools (no build isolation: no setuptools fetched unpinned).
$(STAMP): pyproject.toml requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
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

# Refresh the lock after a change to pyproject.toml's dependencies: pins already in the lock are kept unless
# `make lock UPGRADE=1`. production.txt (runtime, every provider SDK, and the setuptools that builds daifu) is
# resolved first and is an input of dev.txt, so a production install runs the very versions the tests ran.
# Resolved against the public package index only (this machine's own pip configuration left out), for
# Python 3.11 on Linux as CI runs.
LOCK := CUSTOM_COMPILE_COMMAND="make lock" PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= $(BIN)/pip-compile --quiet \
	--generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links $(if $(UPGRADE),--upgrade)

lock: $(STAMP)
	$(LOCK) --all-build-deps --extra all -o requirements/production.txt pyproject.toml
	$(LOCK) --extra all --extra dev -o requirements/dev.txt pyproject.toml requirements/production.txt

bench: $(STAMP)
	$(BIN)/python -m bench

# Re-extract the English source strings and merge them into the Chinese catalog.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-location -o /tmp/daifu-messages.pot .
	$(BIN)/pybabel update -i /tmp/daifu-messages.pot -d services/locales -D messages -l zh_Hans --no-fuzzy-matching

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

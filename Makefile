# Quick start: `make demo` (compute the sample region and serve the map) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PORT   ?= 8000
HOST   ?= 127.0.0.1
BIN     = $(VENV)/bin
LEAFLET = tileserver/static/vendor/leaflet/leaflet.js

.PHONY: demo test install install-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Leaflet comes from the npm registry (package.json + package-lock.json) and is
# served by the tile server from tileserver/static/vendor/leaflet.
$(LEAFLET): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --silent
	mkdir -p tileserver/static/vendor/leaflet/images
	cp node_modules/leaflet/dist/leaflet.css node_modules/leaflet/LICENSE tileserver/static/vendor/leaflet/
	cp node_modules/leaflet/dist/images/*.png tileserver/static/vendor/leaflet/images/
	cp node_modules/leaflet/dist/leaflet.js $@

$(VENV)/.installed: setup.cfg pyproject.toml $(LEAFLET) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: setup.cfg pyproject.toml $(LEAFLET) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/covgap demo --host $(HOST) --port $(PORT)

test: install-test
	$(BIN)/pytest

clean:
	rm -rf $(VENV) node_modules demo-output test-artifacts build dist *.egg-info

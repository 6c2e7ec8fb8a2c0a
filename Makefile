# The two commands of the README: `make demo` and `make test`.
# Everything they need is installed by the scripts they call.
SHELL := /bin/bash
.DEFAULT_GOAL := help
RUN := source scripts/common.sh &&

.PHONY: help venv demo test units lint sanity integration lab-up lab-down lab-rebuild lab-status build bench docs

help:
	@echo "make demo         lab up + playbooks/site.yml on inventories/lab + node state"
	@echo "make test         everything CI runs (lint, sanity, unit and integration tests)"
	@echo "make lab-up|lab-down|lab-rebuild|lab-status"
	@echo "make build        ansible-galaxy collection build"
	@echo "make bench        timings into bench/results (see docs/benchmarks.md)"
	@echo "make docs         regenerate role inputs, module and filter pages in docs/ (scripts/gen_docs.py)"

venv:
	@scripts/venv.sh

demo: venv
	scripts/demo.sh

test: venv
	scripts/test.sh

units: venv
	$(RUN) python -m pytest tests/unit -q

lint: venv
	$(RUN) ansible-lint

sanity: venv
	scripts/sanity.sh

integration: venv
	$(RUN) python -m pytest tests/integration -v

lab-up:
	scripts/lab.sh up
lab-down:
	scripts/lab.sh down
lab-rebuild:
	scripts/lab.sh rebuild
lab-status:
	scripts/lab.sh status

build: venv
	$(RUN) ansible-galaxy collection build --force --output-path "$$PJ_CACHE/dist" .

bench: venv
	scripts/bench.sh

docs: venv
	$(RUN) python scripts/gen_docs.py

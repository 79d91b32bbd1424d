# attnlib: the two commands of the README's quick start are `make book` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= paper
EDITION ?= instructor
BENCH_ARGS ?=

# Datasets come from a local mirror when there is one (../shared/data on the project's
# machines); otherwise attnlib downloads the canonical public archives.
SHARED_MIRROR := $(abspath ../shared/data)
ifeq ($(origin ATTNLIB_DATA_MIRROR), undefined)
  ifneq ($(wildcard $(SHARED_MIRROR)),)
    export ATTNLIB_DATA_MIRROR := $(SHARED_MIRROR)
  endif
endif

.PHONY: help venv vendor book test test-fast bench grid clean assignments student-repo

help:
	@echo "make book [PROFILE=paper|smoke]  build the HTML book: paper (default) renders the"
	@echo "                                  published results/paper/, smoke trains from scratch"
	@echo "make book EDITION=student         the same book without the exercises' solutions"
	@echo "make test                         unit, notebook, book-build and browser tests"
	@echo "make test-fast                    unit tests only"
	@echo "make bench                        erasure and training-speed benchmarks (benchmarks/)"
	@echo "make grid                         train, test and publish the paper grid on Ray (hours on a CPU)"
	@echo "make assignments                  student versions of the nbgrader assignments (assignments/release/)"
	@echo "make student-repo                 a repository for students: no solutions, no hidden tests"
	@echo "                                  (_build/student-repo; STUDENT_REPO=path to choose)"

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

venv: $(VENV)/.installed

_vendor/.stamp: js/package.json js/package-lock.json tools/vendor_js.sh | $(VENV)/.installed
	PY=$(PY) tools/vendor_js.sh

vendor: _vendor/.stamp

book: $(VENV)/.installed _vendor/.stamp
	$(PY) tools/build_book.py --profile $(PROFILE) --edition $(EDITION)

# Two test processes on a 2-core machine (TEST_WORKERS=auto: one per core), one torch
# thread each: OpenMP threads that spin-wait on a shared CPU cost far more than they bring.
# Tests are dealt out file by file, so that one worker builds the book for all its tests.
TEST_WORKERS ?= 2
test: $(VENV)/.installed _vendor/.stamp
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest tests -n $(TEST_WORKERS) \
	  --dist loadfile -ra --durations=15

test-fast: $(VENV)/.installed
	$(PY) -m pytest tests -ra -m "not book and not slow"

bench: $(VENV)/.installed
	$(PY) benchmarks/erasure.py $(BENCH_ARGS)
	$(PY) benchmarks/training_speed.py
	$(PY) benchmarks/followup_tests.py
	$(PY) benchmarks/grid.py
	$(PY) benchmarks/study_table.py

grid: $(VENV)/.installed
	$(PY) -m attnlib grid --plan paper
	$(PY) -m attnlib publish --profile paper --followup-tests

clean:
	rm -rf _build _vendor

# nbgrader's student versions of assignments/source/* (solutions and hidden tests removed),
# written to assignments/$(ASSIGNMENTS_RELEASE) (git-ignored); see assignments/README.md.
ASSIGNMENTS_RELEASE ?= release
assignments: $(VENV)/.installed
	cd assignments && for a in $$(ls source); do \
	  $(abspath $(PY)) -m nbgrader generate_assignment "$$a" --no-db --force \
	    --CourseDirectory.release_directory="$(ASSIGNMENTS_RELEASE)" || exit 1; \
	done

# A repository to hand to students (tools/student_repo.py): the chapters without the
# exercises' solutions, the assignments as nbgrader releases them, no instructors' page,
# tests or grading set-up. Keep the full repository private.
STUDENT_REPO ?= _build/student-repo
student-repo: $(VENV)/.installed
	$(PY) tools/student_repo.py --out $(STUDENT_REPO)

# Every target sets itself up: a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help install demo test lint harness golden bench docs lock clean

help:
	@echo "make demo    compose the example issue and send it to a sample list (outbox, offline)"
	@echo "make test    install into .venv, run make lint, then the test suite"
	@echo "make lint    ruff (lint and import order) and mypy (types of the newsletter package)"
	@echo "make harness play HARNESS_SCHEDULES random send schedules (from HARNESS_SEED) and count how many held"
	@echo "make golden  refresh the golden files in tests/golden/ after an intended change"
	@echo "make bench   run the benchmarks in bench/"
	@echo "make docs    regenerate docs/cli.md from the commands' own help"
	@echo "make lock    refresh constraints.txt to the newest versions pyproject.toml allows"
	@echo "make clean   remove .venv, build/, outbox/ and the demo database"

# Editable in 'compat' mode: a plain path entry, where the default mode's import hook costs every Python
# process of the venv (each command, each test's subprocess) about 10 ms of start-up.
# constraints.txt pins every package to the version the tests (and golden files) were written against.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt --config-settings editable_mode=compat -e '.[dev,screenshots,postgresql]'
	touch $(STAMP)

install: $(STAMP)

DEMO_ENV := NEWSLETTER_DATABASE=build/demo.db NEWSLETTER_OUTBOX=build/outbox \
	NEWSLETTER_SECRET_KEY=demo-only-not-a-secret-key NEWSLETTER_ENV_FILE=/dev/null

demo: $(STAMP)
	@mkdir -p build
	$(DEMO_ENV) $(BIN)/newsletter compose issues/2026-11-example.md
	$(DEMO_ENV) $(BIN)/newsletter subscribers import examples/subscribers.csv --list demo
	$(DEMO_ENV) $(BIN)/newsletter send issues/2026-11-example.md --list demo --backend outbox --yes
	@echo "Messages written under build/outbox/ - open one with any mail client."

test: lint
	$(BIN)/python -m pytest

# Configured in pyproject.toml ([tool.ruff], [tool.mypy]). Lint only: `ruff format` is not used.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# The send engine's fault-injection harness, long mode (make test plays a few dozen schedules).
# An empty HARNESS_SEED picks a random one; a failing schedule prints the seed that replays it.
# HARNESS_SUBJECTS schedules with a subject test and HARNESS_RESENDS resends to the non-readers are played after them.
HARNESS_SCHEDULES ?= 2000
HARNESS_SUBJECTS ?= 200
HARNESS_RESENDS ?= 200
HARNESS_SEED ?=
harness: $(STAMP)
	HARNESS_SCHEDULES=$(HARNESS_SCHEDULES) HARNESS_SUBJECTS=$(HARNESS_SUBJECTS) HARNESS_RESENDS=$(HARNESS_RESENDS) \
		HARNESS_SEED=$(HARNESS_SEED) \
		$(BIN)/python -m pytest -q -s -p no:cacheprovider tests/delivery/test_harness.py::test_random_schedules_hold \
		tests/delivery/test_harness.py::test_random_subject_test_schedules_hold \
		tests/delivery/test_harness.py::test_random_sequence_schedules_hold \
		tests/delivery/test_harness.py::test_random_resend_schedules_hold

golden: $(STAMP)
	$(BIN)/python tests/golden/refresh.py

bench: $(STAMP)
	$(BIN)/python bench/compose.py
	$(BIN)/python bench/send.py
	$(BIN)/python bench/dkim.py
	$(BIN)/python bench/events.py
	$(BIN)/python bench/audience.py
	$(BIN)/python bench/release.py
	$(BIN)/python bench/archive.py
	$(BIN)/python bench/bounces.py
	$(BIN)/python bench/scale.py --sizes 10000,100000

docs: $(STAMP)
	$(BIN)/python -m newsletter.cli.reference docs/cli.md

# Resolve pyproject.toml afresh in a throwaway venv and record the result. Then run
# `make test` (and `make golden` if compose output moved) and commit constraints.txt.
LOCK_VENV := build/lock-venv
lock:
	rm -rf $(LOCK_VENV) build/lib build/bdist.*  # setuptools builds in the tree
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/pip install --quiet '.[dev,screenshots,postgresql]'
	{ echo "# Exact versions for 'pip install -c constraints.txt'. Refresh with 'make lock'."; \
	  $(LOCK_VENV)/bin/pip freeze --all --exclude markdown-newsletter --exclude pip; } > constraints.txt
	rm -rf $(LOCK_VENV) build/lib build/bdist.*  # setuptools builds in the tree

clean:
	rm -rf $(VENV) build outbox markdown_newsletter.egg-info newsletter.egg-info .mypy_cache .ruff_cache

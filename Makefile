# Every target sets itself up: a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help install demo test golden bench clean

help:
	@echo "make demo    compose the example issue and send it to a sample list (outbox, offline)"
	@echo "make test    install into .venv and run the test suite"
	@echo "make golden  refresh the golden files in tests/golden/ after an intended change"
	@echo "make bench   run the benchmarks in bench/"
	@echo "make clean   remove .venv, build/, outbox/ and the demo database"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,screenshots]'
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

test: $(STAMP)
	$(BIN)/python -m pytest

golden: $(STAMP)
	$(BIN)/python tests/golden/refresh.py

bench: $(STAMP)
	$(BIN)/python bench/compose.py
	$(BIN)/python bench/send.py
	$(BIN)/python bench/events.py
	$(BIN)/python bench/scale.py --sizes 10000,100000

clean:
	rm -rf $(VENV) build outbox newsletter.egg-info

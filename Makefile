# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow lint bench bench-compare pki interop clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,plot,lint]'
	touch $(STAMP)

DEMO_REQ  := samples/messages/valid/CS06_11.3_future_dated_request.xml
DEMO_READ := samples/messages/valid/ECS52_11.2_read_firmware_version_request.xml
DEMO_NOW  := 2026-03-01T00:00:00Z

demo: $(STAMP)
	@echo "== Validate the bundled sample messages (bundled DUIS 5.4 schema)"
	$(BIN)/duis validate -q samples/messages/valid/
	@echo "== An invalid message gets a report naming line, XPath, expected and found"
	$(BIN)/duis validate samples/messages/invalid/11.3_header_out_of_order_request.xml; \
	  test $$? -eq 1 && echo "(exit status 1: invalid, as expected)"
	@echo "== Inspect a request: who sends what to whom"
	$(BIN)/duis inspect $(DEMO_REQ)
	@echo "== Sign it with the test PKI (key found from the RequestID) and verify it"
	$(BIN)/duis sign --preserve-counter $(DEMO_REQ) -o .demo-signed.xml
	$(BIN)/duis verify --json .demo-signed.xml
	@rm -f .demo-signed.xml
	@echo "== The emulated DSP on the default world: an 11.2 from the responsible supplier gets I99,"
	@echo "   the same from a supplier not responsible for the meter gets E4"
	$(BIN)/duis world check samples/worlds/default.toml
	$(BIN)/duis sign --preserve-counter $(DEMO_READ) | $(BIN)/duis submit --now $(DEMO_NOW) - > /dev/null
	sed 's/90-B3-D5-1F-30-01-00-00:/90-B3-D5-1F-30-02-00-00:/' $(DEMO_READ) | $(BIN)/duis sign --preserve-counter - \
	  | $(BIN)/duis submit --now $(DEMO_NOW) - > /dev/null || true
	@echo "== MP105, the main story under each behaviour profile (transcripts in transcripts/)"
	$(BIN)/duis run --story samples/scenarios/mp105-esme-recovery-by-read.toml
	@echo "== MP102B: a meter reboots on activation; its hub's AD1s for 30 minutes go to the Suppression Log"
	$(BIN)/duis run --story --profile mp105-option2 samples/scenarios/mp102b-ad1-suppression.toml
	$(BIN)/duis suppression-log --scenario samples/scenarios/mp102b-ad1-suppression.toml
	@echo "== SECMP0024: comms hub firmware with 7 days' notice, deployed and activated on schedule; a hub's status"
	$(BIN)/duis run --story --profile mp105-option2 samples/scenarios/secmp0024-hub-firmware-release.toml
	$(BIN)/duis hub-firmware list --scenario samples/scenarios/secmp0024-hub-firmware-failures.toml
	@echo "== Golden transcripts of every shipped scenario"
	$(BIN)/duis golden check -q samples/scenarios

# the tests run in one process per CPU (pytest-xdist; worksteal: a worker that is done
# takes tests from a busy one); `pytest` alone runs them in this process
PYTEST := $(BIN)/python -m pytest -q -n auto --dist worksteal

test: $(STAMP)
	$(BIN)/python tools/validate_samples.py
	$(PYTEST) -m "not slow"

# the tests marked slow (real processes killed and restarted, the heaviest hostile
# inputs measured in a subprocess); CI runs them after `make test`
test-slow: $(STAMP)
	$(PYTEST) -m slow

# ruff (its rules in pyproject.toml's [tool.ruff]) and mypy (the package duis, as
# [tool.mypy] says); CI runs it after the tests
lint: $(STAMP)
	$(BIN)/ruff check duis tests tools benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# an earlier revision's figures beside today's (BASE=rev; BENCH="roundtrip signatures"
# chooses modules; PAIRS=3 runs each three times on each side, taking turns)
bench-compare: $(STAMP)
	$(BIN)/python benchmarks/compare.py $(BASE) --pairs $(or $(PAIRS),1) $(BENCH)

pki: $(STAMP)
	$(BIN)/python tools/make_test_pki.py

interop: $(STAMP)
	$(BIN)/python -m pytest -q -m interop

clean:
	rm -rf $(VENV) .pytest_cache

# satisfaction — set-up and everyday commands. `make help` lists them.
#
# Every target builds the virtual environment (.venv) first if it is missing or out of date; a
# second call reuses it without reinstalling.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
YEAR   ?= 2024
LANG_REPORT ?= zh
STAMP  := $(VENV)/.installed-stamp
FONTS  := $(VENV)/.cjk-font-stamp
BROWSER_STAMP := $(VENV)/.browser-stamp

.PHONY: help install report bulletins ingest test benchmark demo-data lock clean

help:
	@echo "make report      build .venv if needed, ingest the demo year ($(YEAR)) and write reports/$(YEAR)/"
	@echo "make bulletins   every city's bulletin for the demo year, then the report linking them"
	@echo "make test        build .venv if needed and run the whole test suite"
	@echo "make ingest      validate data/raw/$(YEAR)/ (and every earlier year) into data/processed/, where changed"
	@echo "make benchmark   run the scripts in benchmarks/"
	@echo "make demo-data   regenerate the demo survey under data/raw/ (deterministic)"
	@echo "make lock        re-pin requirements.lock from a fresh resolve"
	@echo "variables: YEAR=$(YEAR) LANG_REPORT=$(LANG_REPORT) PYTHON=$(PYTHON)"

install: $(STAMP) $(FONTS) $(BROWSER_STAMP)

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "satisfaction needs Python >= 3.11; run make PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m satisfaction.kernel --install
	@touch $@

# Figures need a font with Chinese glyphs. Where none is found and we may use apt (root on
# Debian/Ubuntu), install Noto CJK; otherwise say what to install.
$(FONTS): $(STAMP)
	@if ! $(BIN)/python -m satisfaction.report.plotting --check-font; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing fonts-noto-cjk (CJK font for figures)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null) && \
	    $(BIN)/python -m satisfaction.report.plotting --check-font; \
	  else \
	    echo "no CJK font found: install one (Debian/Ubuntu: sudo apt-get install fonts-noto-cjk;"; \
	    echo "macOS and Windows ship one) or set SATISFACTION_CJK_FONT=/path/to/font.otf"; exit 1; \
	  fi; \
	fi
	@touch $@

# The PDF is printed by a headless Chromium-family browser. Where none is found and we may use apt
# (root on Debian/Ubuntu), install Debian's chromium; otherwise say what to install.
$(BROWSER_STAMP): $(STAMP)
	@if ! $(BIN)/python -m satisfaction.report.browser --check; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium (prints the report's PDF)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) && \
	    $(BIN)/python -m satisfaction.report.browser --check; \
	  else \
	    echo "no browser to print the PDF: apt-get install chromium (as root: make does it),"; \
	    echo "or set SATISFACTION_BROWSER=/path/to/chrome"; exit 1; \
	  fi; \
	fi
	@touch $@


# The year and every earlier year whose exports are there (the report's trends use them all). A year
# is ingested again only when something it is made from is newer than its manifest: its exports in
# data/raw/<year>/ (a file added, removed or edited), the codebook, the ingest code or the
# environment (make install); otherwise its data/processed/<year>/ is up to date and kept as it is.
INGEST_INPUTS := data/raw/codebook.yaml satisfaction/codebook.py satisfaction/errors.py satisfaction/ingest $(STAMP)

ingest: install
	@for y in $(YEAR) $$(ls data/raw | grep -E '^[0-9]{4}$$' | grep -vx '$(YEAR)'); do \
	    [ $$y -le $(YEAR) ] || continue; \
	    m=data/processed/$$y/manifest.json; \
	    if [ -f $$m ] && [ -d data/raw/$$y ] && [ -z "$$(find data/raw/$$y $(INGEST_INPUTS) \
	            -name __pycache__ -prune -o -newer $$m -print | head -n 1)" ]; then \
	        echo "data/processed/$$y/ is up to date"; \
	    else \
	        echo "$(BIN)/satisfaction ingest --year $$y"; \
	        $(BIN)/satisfaction ingest --year $$y || exit $$?; \
	    fi; \
	done

report: ingest
	$(BIN)/satisfaction report --year $(YEAR) --lang $(LANG_REPORT)

bulletins: ingest
	$(BIN)/satisfaction report --year $(YEAR) --lang $(LANG_REPORT) --cities all
	$(BIN)/satisfaction report --year $(YEAR) --lang $(LANG_REPORT)

test: install
	$(BIN)/python -m pytest -q

benchmark: install
	$(BIN)/pip install --quiet -r benchmarks/requirements.txt
	@for f in benchmarks/[!_]*.py; do [ -e "$$f" ] || continue; echo "== $$f"; $(BIN)/python $$f || exit 1; done

demo-data: install
	$(BIN)/satisfaction synth --out data/raw

lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet ".[test]" setuptools wheel
	.lock-venv/bin/python -m pip freeze --exclude satisfaction --exclude pip \
	  | sed '1i # Exact versions installed by make (Python 3.11). Regenerate with make lock.' > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

# Two commands: `make demo` and `make test`. Both set themselves up on a fresh clone
# (Python >= 3.11 and pip are all they need) and are quick on a second run.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
SCENARIO ?= scenarios/sample.yaml

KERNEL := siting

.PHONY: demo test lint browser benchmarks clean sample kernel lab

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Reinstall only when the package metadata changes.
$(VENV)/.installed: pyproject.toml | $(VENV)/bin/activate
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/activate
	$(PIP) install --quiet -e ".[test]"
	touch $(VENV)/.installed $@

$(VENV)/.installed-lab: pyproject.toml | $(VENV)/bin/activate
	$(PIP) install --quiet -e ".[notebook]"
	touch $(VENV)/.installed $@

# The Jupyter kernel the notebooks name ("siting"), registered inside .venv so it runs this checkout.
kernel: $(VENV)/.installed-test
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (siting)" >/dev/null

# JupyterLab opened on notebooks/ with the project's kernel (the notebooks chdir to the repository root).
lab: $(VENV)/.installed-lab kernel
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=notebooks

demo: $(VENV)/.installed
	$(VENV)/bin/siting run data/raw/sample/$(SCENARIO) --overwrite

# Debian's chromium for the map tests in a real browser and for printing the packs to PDF, a CJK font so
# Chinese labels print (fonts-noto-cjk) and poppler-utils to read the PDFs back in the tests (root on these
# machines; skipped politely elsewhere).
browser:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	fc-list :lang=zh 2>/dev/null | grep -q . || missing="$$missing fonts-noto-cjk"; \
	command -v pdftotext >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian$$missing for the browser tests and the PDF packs"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "could not install$$missing: browser tests will skip (and fail under CI=true)"; \
	  else echo "$$missing not found and cannot apt-get: browser tests will skip"; fi; \
	fi

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check siting tests benchmarks
	$(VENV)/bin/ruff format --check siting tests benchmarks README.md docs

test: $(VENV)/.installed-test browser kernel lint
	$(VENV)/bin/pytest -q

sample: $(VENV)/.installed
	$(VENV)/bin/siting sample data/raw/sample --overwrite

benchmarks: $(VENV)/.installed-test
	$(PY) -m benchmarks.run all

clean:
	rm -rf data/processed/* maps/*.html .pytest_cache .ruff_cache

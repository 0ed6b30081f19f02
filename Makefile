# The two set-up commands of README.md:
#   make app    creates .venv if missing, installs, launches the web app (webapp/app.py)
#   make test   creates .venv if missing, installs, runs the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: app test install demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-install only when the requirements or the package metadata change.
$(STAMP): $(BIN)/python requirements.txt pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# The web app on http://localhost:8501 (this machine only), opening on the embedded default study.
app: $(STAMP)
	$(BIN)/streamlit run webapp/app.py --server.port 8501 --server.address localhost

demo: $(STAMP)
	$(BIN)/cardiolab demo

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

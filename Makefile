# The two commands a new machine needs: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: demo test test-unit system-deps clean

$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

# kcat (Debian's Kafka client) is what the tests read the output topics with, as an outside consumer;
# chromium (headless) is what they look at the dashboard with.
system-deps:
	@command -v java >/dev/null || { echo "Java 17+ is needed for the local Kafka broker (apt-get install openjdk-17-jre-headless)"; exit 1; }
	@command -v mvn >/dev/null || { echo "Maven is needed to fetch Kafka from Maven Central (apt-get install maven)"; exit 1; }
	@command -v kcat >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null); \
	  else echo "kcat is needed by the end-to-end tests: sudo apt-get install kcat"; exit 1; fi; }
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); \
	  else echo "chromium is needed by the dashboard's end-to-end test: sudo apt-get install chromium"; exit 1; fi; }

demo: $(INSTALLED)
	$(VENV)/bin/pricestream demo

test: $(INSTALLED) system-deps
	$(PY) -m pytest

test-unit: $(INSTALLED)
	$(PY) -m pytest -m "not e2e"

clean:
	rm -rf $(VENV) .pytest_cache

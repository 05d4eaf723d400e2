"""Do assertion-aware features help today's TF-IDF classifiers? K-fold cross-validation, same settings.

The TF-IDF model's stop words drop "no", "not" and "without", so "no pneumonia" and "pneumonia" give it the
same features. Variants of each document's text, all scored with the committed model's settings by
``nlp.training.cross_validate`` (grouped or stratified folds as the corpus needs):

- ``words``: the text as it is (today's model).
- ``assertion-tokens``: the text plus one token per concept mention and its assertion
  (``negated_pneumonia``, ``affirmed_chest_pain``, ``family_breast_cancer``), as the findings model does.
- ``negated-replaced``: the words of each negated, hypothetical or family mention replaced by its token, so
  "no pneumonia" no longer counts as the word "pneumonia".

    .venv/bin/python benchmarks/assertion_features.py --corpus mtsamples --model mtsamples-tfidf
    .venv/bin/python benchmarks/assertion_features.py --corpus ohsumed --model ohsumed-tfidf --folds 5
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

from corpora import get_corpus, load_corpus
from nlp.classifiers.findings import assertion_state, assertion_token
from nlp.model_store import load_model
from nlp.training import TrainingData, cross_validate

REPLACED = {"negated", "hypothetical", "family"}


def with_tokens(text: str, analysis) -> str:
    tokens = [assertion_token(c) for c in analysis.concepts]
    return text + "\n" + " ".join(tokens) if tokens else text


def with_replacements(text: str, analysis) -> str:
    pieces, position = [], 0
    for concept in analysis.concepts:
        if assertion_state(concept) in REPLACED:
            pieces.append(text[position:concept.start])
            pieces.append(f" {assertion_token(concept)} ")
            position = concept.end
    pieces.append(text[position:])
    return "".join(pieces)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--model", required=True, help="committed model whose settings are used")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--variants", default="words,assertion-tokens,negated-replaced")
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)
    from nlp.clinical.analyze import ClinicalAnalyzer

    info = get_corpus(args.corpus)
    data = TrainingData.from_dataset(load_corpus(args.corpus, args.data_dir)["train"], {}, info.label_names,
                                     info.grouped_by)
    estimator = load_model(args.model).estimator
    started = time.perf_counter()
    analyses = ClinicalAnalyzer.shared().analyze(data.texts)
    print(f"{args.corpus}: {len(data.texts)} documents analyzed in {time.perf_counter() - started:.0f} s; "
          f"{args.folds} folds with the settings of {args.model}", file=sys.stderr)
    builders = {"words": lambda t, a: t, "assertion-tokens": with_tokens, "negated-replaced": with_replacements}
    print("| corpus | variant | accuracy | micro-F1 | macro-F1 |")
    print("|---|---|---|---|---|")
    for variant in [v.strip() for v in args.variants.split(",") if v.strip()]:
        texts = [builders[variant](t, a) for t, a in zip(data.texts, analyses)]
        summary = cross_validate(replace(data, texts=texts, sentences=None), estimator, args.folds).summary()
        print(f"| {args.corpus} | {variant} | " + " | ".join(
            f"{summary[key]['mean']:.4f} ± {summary[key]['std']:.4f}" for key in ("accuracy", "micro_f1", "macro_f1"))
            + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

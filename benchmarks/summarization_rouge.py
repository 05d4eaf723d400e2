"""ROUGE of every summarization method side by side, at the same word budget, plus the extractive oracle.

For each shared summarization set, the word budget is the median length of its reference summaries; every
method (and the oracle: the greedy best sentence set under that budget, the upper bound for extraction)
summarizes every text within it. ROUGE-1, ROUGE-2 and ROUGE-Lsum F1 (the ``rouge-score`` package, Porter
stemming; Lsum on one sentence per line) and documents per second are printed as a Markdown table.

    .venv/bin/python benchmarks/summarization_rouge.py                 # the README table
    .venv/bin/python benchmarks/summarization_rouge.py --tune          # grid-search the extractive defaults
    .venv/bin/python benchmarks/summarization_rouge.py --sets cochrane --methods lead,extractive

Records: the "eval" part of each set (``nlp.summarizers.sentence_scorer.load_pairs``): the second half of the
Cochrane pairs (206), ACI-Bench validation (20 full visits), MTS-Dialog validation (100), and 300 Indiana
reports and 300 MeQSum questions. The learned sentence scorer and ``--tune`` use only the "train" part.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from collections import Counter

import numpy as np

from nlp.segmentation import Segmenter
from nlp.summarizers import get_summarizer
from nlp.summarizers.base import Budget, candidates
from nlp.summarizers.scorer_training import SETS, greedy_oracle, load_pairs, ngram_counts, ngram_f1

METHODS = ["lead", "textrank", "lexrank", "extractive"]


def load_set(name: str, tuning: bool, data_dir: str | None) -> tuple[list[str], list[str]]:
    return load_pairs(name, "train" if tuning else "eval", data_dir)


class Scorer:
    """ROUGE-1/2/Lsum F1 with the rouge-score package; references split into lines by the segmenter."""

    def __init__(self):
        from rouge_score import rouge_scorer, tokenizers

        self.scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeLsum"], use_stemmer=True)
        self.tokenizer = tokenizers.DefaultTokenizer(use_stemmer=True)
        self.segmenter = Segmenter()

    def lines(self, texts: list[str]) -> list[str]:
        return ["\n".join(s.text for s in seg.sentences) for seg in self.segmenter.segment(texts)]

    def score(self, references: list[str], summaries: list[str]) -> dict[str, float]:
        totals = Counter()
        for reference, summary in zip(self.lines(references), summaries):
            for key, value in self.scorer.score(reference, summary).items():
                totals[key] += value.fmeasure
        return {key: 100 * totals[key] / max(1, len(references)) for key in ("rouge1", "rouge2", "rougeLsum")}


def oracle(texts: list[str], references: list[str], max_words: int, scorer: Scorer) -> list[str]:
    """Greedy extractive oracle: add the sentence that most raises ROUGE-1 + ROUGE-2 F1, within the budget."""
    summaries = []
    for segmented, reference in zip(scorer.segmenter.segment(texts), references):
        pool = candidates(segmented, None)
        grams = [ngram_counts(scorer.tokenizer.tokenize(s.text)) for s in pool]
        chosen = greedy_oracle(grams, [s.words for s in pool], ngram_counts(scorer.tokenizer.tokenize(reference)),
                               max_words)
        summaries.append("\n".join(pool[i].text for i in sorted(chosen)))
    return summaries


def budget_for(references: list[str]) -> int:
    return max(1, int(statistics.median(len(r.split()) for r in references)))


def run_benchmark(sets: list[str], methods: list[str], data_dir: str | None, options: dict | None = None,
                  with_oracle: bool = True) -> list[dict]:
    scorer = Scorer()
    summarizers = {name: get_summarizer(name, **(options or {}) if name == "extractive" else {})
                   for name in methods}
    rows = []
    for set_name in sets:
        texts, references = load_set(set_name, tuning=False, data_dir=data_dir)
        budget = budget_for(references)
        print(f"{set_name}: {len(texts)} documents, budget {budget} words", file=sys.stderr)
        for name, summarizer in summarizers.items():
            summarizer.summarize(texts[:2], max_words=budget)  # warm up (model load) outside the clock
            started = time.perf_counter()
            summaries = summarizer.summarize(texts, max_words=budget)
            seconds = time.perf_counter() - started
            assert all(len(s.text.split()) <= budget for s in summaries), f"{name} broke the budget"
            lines = ["\n".join(sentence.text for sentence in s.sentences) for s in summaries]
            rows.append({"set": set_name, "method": name, "budget": budget, "documents": len(texts),
                         "docs_per_s": len(texts) / seconds, **scorer.score(references, lines)})
        if not with_oracle:
            continue
        lines = oracle(texts, references, budget, scorer)
        rows.append({"set": set_name, "method": "oracle (upper bound)", "budget": budget, "documents": len(texts),
                     "docs_per_s": None, **scorer.score(references, lines)})
    return rows


def print_table(rows: list[dict]) -> None:
    print("| set | budget (words) | method | ROUGE-1 | ROUGE-2 | ROUGE-Lsum | docs/s |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        rate = f"{row['docs_per_s']:.1f}" if row["docs_per_s"] else ""
        print(f"| {row['set']} | {row['budget']} | {row['method']} | {row['rouge1']:.2f} | {row['rouge2']:.2f} "
              f"| {row['rougeLsum']:.2f} | {rate} |")


def tune(sets: list[str], data_dir: str | None) -> None:
    """Grid-search the extractive parameters on the tuning records by mean ROUGE-1 + ROUGE-2 F1.

    Embeddings, tokens and n-gram counts are computed once per set, so each setting costs only the
    selection and some counting (the same n-gram F1 as rouge-score's ROUGE-1 and ROUGE-2).
    """
    from nlp.summarizers.extractive import ExtractiveSummarizer

    scorer = Scorer()
    base = ExtractiveSummarizer()
    prepared = []
    for set_name in sets:
        texts, references = load_set(set_name, tuning=True, data_dir=data_dir)
        pools = [candidates(s, None) for s in base.segmenter.segment(texts)]
        vectors = base.encoder.encode([s.text for pool in pools for s in pool])
        split, offset = [], 0
        for pool in pools:
            split.append(vectors[offset:offset + len(pool)])
            offset += len(pool)
        grams = [[ngram_counts(scorer.tokenizer.tokenize(s.text)) for s in pool] for pool in pools]
        reference_grams = [ngram_counts(scorer.tokenizer.tokenize(r)) for r in references]
        prepared.append((set_name, pools, split, grams, reference_grams, budget_for(references)))
        print(f"prepared {set_name}: {len(texts)} documents", file=sys.stderr)
    grid = {"diversity": [0.6, 0.7, 0.85, 1.0], "length_weight": [0.0, 0.1, 0.2], "dialogue_length_weight": [0.0, 0.1, 0.2]}
    results = []
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid, values))
        summarizer = ExtractiveSummarizer(encoder=base.encoder, **params)
        scores = {}
        for set_name, pools, split, grams, reference_grams, budget in prepared:
            total = 0.0
            for pool, v, pool_grams, reference in zip(pools, split, grams, reference_grams):
                if not pool:
                    continue
                summary = summarizer.select(pool, v, Budget(budget))
                picked = {s.start for s in summary.sentences}
                unigrams, bigrams = Counter(), Counter()
                for sentence, (one, two) in zip(pool, pool_grams):
                    if sentence.start in picked:
                        unigrams += one
                        bigrams += two
                total += _f1(unigrams, reference[0]) + _f1(bigrams, reference[1])
            scores[set_name] = 100 * total / len(pools)
        results.append((float(np.mean(list(scores.values()))), params, scores))
        print(json.dumps({"mean_r1_plus_r2": round(results[-1][0], 3), **params,
                          **{k: round(v, 2) for k, v in scores.items()}}), flush=True)
    best = max(results, key=lambda item: item[0])
    print(f"best: {best[1]} (mean ROUGE-1 + ROUGE-2 {best[0]:.2f}: {best[2]})")


def _f1(candidate: Counter, reference: Counter) -> float:
    return ngram_f1(sum((candidate & reference).values()), sum(candidate.values()), sum(reference.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--tune", action="store_true")
    parser.add_argument("--data-dir")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--extractive-options", type=json.loads, default=None,
                        help='JSON of ExtractiveSummarizer arguments to try, e.g. \'{"diversity": 0.5}\'')
    parser.add_argument("--no-oracle", action="store_true")
    args = parser.parse_args()
    sets = args.sets.split(",")
    if args.tune:
        tune(sets, args.data_dir)
        return
    rows = run_benchmark(sets, args.methods.split(","), args.data_dir, args.extractive_options, not args.no_oracle)
    print_table(rows)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()

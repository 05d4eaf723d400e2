"""Words per second of clinical analysis on the MTSamples notes, beside medspaCy's default pipeline.

clinnlp: ``ClinicalAnalyzer().analyze(texts)`` (tokenizer, sentence rules, section finder, concept matching
over the packaged lexicon, ConText). medspaCy: ``medspacy.load()`` (its tokenizer, PyRuSH sentences, target
matcher, ConText with its default rules) with the same targets: every phrase of the packaged lexicon as a
``TargetRule``. One process, one run each, after a warm-up on the first notes; model loading is outside the
clock. Words are whitespace-separated tokens of the input.

    .venv/bin/python benchmarks/analyze_speed.py                 # every distinct note (about 1.9k)
    .venv/bin/python benchmarks/analyze_speed.py --limit 300 --systems clinnlp
"""

from __future__ import annotations

import argparse
import sys
import time


def load_notes(data_dir: str | None, limit: int | None) -> list[str]:
    from corpora import load_corpus

    texts = list(load_corpus("mtsamples", data_dir)["train"]["text"])
    return texts[:limit] if limit else texts


def run_clinnlp(texts: list[str]) -> tuple[float, int]:
    from nlp.clinical.analyze import ClinicalAnalyzer

    analyzer = ClinicalAnalyzer()
    analyzer.analyze(texts[:5])
    started = time.perf_counter()
    results = analyzer.analyze(texts)
    return time.perf_counter() - started, sum(len(r.concepts) for r in results)


def run_medspacy(texts: list[str]) -> tuple[float, int]:
    from loguru import logger

    logger.disable("PyRuSH")
    import medspacy
    from medspacy.ner import TargetRule

    from nlp.clinical.lexicon import packaged_terms

    nlp = medspacy.load()
    rules = [TargetRule(phrase, term.category.upper()) for term in packaged_terms()
             for phrase in (*term.phrases(), *term.abbreviations)]
    nlp.get_pipe("medspacy_target_matcher").add(rules)
    list(nlp.pipe(texts[:5]))
    started = time.perf_counter()
    mentions = sum(len(doc.ents) for doc in nlp.pipe(texts))
    return time.perf_counter() - started, mentions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, help="only the first N notes")
    parser.add_argument("--systems", default="clinnlp,medspacy")
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)
    texts = load_notes(args.data_dir, args.limit)
    words = sum(len(t.split()) for t in texts)
    print(f"{len(texts)} MTSamples notes, {words} words", file=sys.stderr)
    runners = {"clinnlp": run_clinnlp, "medspacy": run_medspacy}
    print("| system | notes | words | seconds | words/s | notes/s | mentions |")
    print("|---|---|---|---|---|---|---|")
    for name in [s.strip() for s in args.systems.split(",") if s.strip()]:
        seconds, mentions = runners[name](texts)
        print(f"| {name} | {len(texts)} | {words} | {seconds:.1f} | {words / seconds:,.0f} | {len(texts) / seconds:.1f} "
              f"| {mentions} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

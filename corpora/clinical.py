"""Clinical corpora: MTSamples, Indiana chest X-ray reports, MTS-Dialog, ACI-Bench, MeQSum."""

from __future__ import annotations

from pathlib import Path

from datasets import DatasetDict

from corpora.files import LABEL, LABELS, SUMMARY, read_csv_rows, require, to_dataset


def load_mtsamples(folder: Path) -> DatasetDict:
    """One record per note (``sample_id``), ``labels`` = every specialty it is listed under.

    The same note is cross-listed under 2-5 specialties, so grouping rows by note is what keeps
    splits free of leakage. The input is the transcription alone: ``keywords``, ``sample_name`` and
    ``description`` name the specialty.
    """
    notes: dict[str, dict] = {}
    for _, row in read_csv_rows(require(folder, "mtsamples.csv"), ["sample_id", "medical_specialty", "transcription"]):
        text = row["transcription"]
        if not text.strip():
            continue
        note = notes.setdefault(row["sample_id"], {"id": row["sample_id"], "text": text, "labels": set()})
        note["labels"].add(row["medical_specialty"].strip())
    records = [{**note, "labels": sorted(note["labels"])} for note in notes.values()]
    return DatasetDict({"train": to_dataset(records, LABELS)})


def load_indiana(folder: Path) -> DatasetDict:
    """Radiology findings -> impression (reports that have both)."""
    records = []
    for _, row in read_csv_rows(require(folder, "indiana_reports.csv"), ["uid", "findings", "impression", "Problems"]):
        if row["findings"].strip() and row["impression"].strip():
            records.append({"id": row["uid"], "text": row["findings"], "summary": row["impression"],
                            "problems": row["Problems"]})
    return DatasetDict({"train": to_dataset(records, SUMMARY)})


def _mts_dialog_split(path: Path, as_summary: bool) -> list[dict]:
    records = []
    for _, row in read_csv_rows(path, ["ID", "section_header", "section_text", "dialogue"]):
        if not row["dialogue"].strip():
            continue
        record = {"id": row["ID"], "text": row["dialogue"]}
        if as_summary:
            record.update(summary=row["section_text"], section_header=row["section_header"])
        else:
            record["label"] = row["section_header"]
        records.append(record)
    return records


def _load_mts_dialog(folder: Path, as_summary: bool) -> DatasetDict:
    features = SUMMARY if as_summary else LABEL
    return DatasetDict({
        "train": to_dataset(_mts_dialog_split(require(folder, "MTS-Dialog-TrainingSet.csv"), as_summary), features),
        "validation": to_dataset(_mts_dialog_split(require(folder, "MTS-Dialog-ValidationSet.csv"), as_summary), features),
    })


def load_mts_dialog(folder: Path) -> DatasetDict:
    """Doctor-patient dialogue -> the text of one note section."""
    return _load_mts_dialog(folder, as_summary=True)


def load_mts_dialog_headers(folder: Path) -> DatasetDict:
    """Doctor-patient dialogue -> which note section it belongs to (20 classes)."""
    return _load_mts_dialog(folder, as_summary=False)


def load_aci_bench(folder: Path) -> DatasetDict:
    """A whole visit dialogue -> the whole clinical note (long-document summarization)."""
    splits = {}
    for split, name in (("train", "train.csv"), ("validation", "valid.csv")):
        rows = read_csv_rows(require(folder, name), ["encounter_id", "dialogue", "note"])
        splits[split] = to_dataset([{"id": row["encounter_id"], "text": row["dialogue"], "summary": row["note"]}
                                    for _, row in rows if row["dialogue"].strip()], SUMMARY)
    return DatasetDict(splits)


def load_meqsum(folder: Path) -> DatasetDict:
    """A consumer health question -> its short form."""
    rows = read_csv_rows(require(folder, "meqsum.csv"), ["File", "CHQ", "Summary"])
    records = [{"id": row["File"], "text": row["CHQ"], "summary": row["Summary"]} for _, row in rows if row["CHQ"].strip()]
    return DatasetDict({"train": to_dataset(records, SUMMARY)})

"""Classify a file of documents in streaming batches, writing results and an errors file.

Memory stays flat in the size of the input: records are read lazily, classified ``batch_size`` at a
time, and each batch's results are written (and flushed) before the next is read. A record that cannot
be read or classified goes to ``<output>.errors.jsonl`` with its id, source line and reason; all valid
records are still classified.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from nlp.documents import Document, DocumentError, Fields, count_records, read_documents
from nlp.model_store import Model

DEFAULT_BATCH_SIZE = 256


@dataclass
class BatchResult:
    """Counts of a batch run and where its files are."""

    classified: int
    failed: int
    output: Path
    errors: Path | None


def errors_path(output: Path) -> Path:
    """``out.jsonl`` -> ``out.errors.jsonl``."""
    stem = output.name[: -len(".jsonl")] if output.name.endswith(".jsonl") else output.name
    return output.with_name(f"{stem}.errors.jsonl")


def batched(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


class ClassificationWriter:
    """Classifies batches of documents with a loaded model and formats one JSON object per document."""

    def __init__(self, model: Model, explain: bool = True, top_k: int = 10):
        self.model = model
        self.explain = explain
        self.top_k = top_k
        self.names = model.label_names

    def classify(self, documents: list[Document]) -> list[dict]:
        """Result dicts for ``documents``, in order."""
        estimator = self.model.estimator
        analyzed = estimator.analyze([doc.text for doc in documents])
        features = estimator.transform(analyzed)
        proba = estimator.predict_proba_features(features)
        picks = estimator.decide(proba)
        explanations = (estimator.explain(analyzed, features, picks, self.top_k) if self.explain
                        else [None] * len(documents))
        classes = [str(c) for c in estimator.classes_]
        results = []
        for doc, row, chosen, explanation in zip(documents, proba, picks, explanations):
            labels = [classes[i] for i in chosen]
            result = {"id": doc.id}
            if not self.model.multi_label:
                result["label"] = labels[0]
            result["labels"] = labels
            result["label_names"] = [self.names.get(label, label) for label in labels]
            result["scores"] = {label: round(float(p), 4) for label, p in zip(classes, row)}
            if explanation is not None:
                result["explanation"] = explanation
            results.append(result)
        return results


def classify_file(model: Model, input_path: str | Path, output: str | Path, fields: Fields = Fields(),
                  batch_size: int = DEFAULT_BATCH_SIZE, explain: bool = True, progress: bool = True) -> BatchResult:
    """Classify every record of ``input_path`` into ``output`` (JSONL), reporting bad records.

    Raises:
        nlp.documents.InputError: The input as a whole cannot be read.
    """
    output, input_path = Path(output), Path(input_path)
    output.parent.mkdir(parents=True, exist_ok=True)
    errors_file = errors_path(output)
    writer = ClassificationWriter(model, explain=explain)
    records = read_documents(input_path, fields)
    total = count_records(input_path) if progress else None
    classified = failed = 0
    with output.open("w", encoding="utf-8") as out, errors_file.open("w", encoding="utf-8") as err, \
            tqdm(total=total, unit="doc", desc="classify", disable=not progress, dynamic_ncols=True) as bar:
        for batch in batched(records, batch_size):
            documents = [item for item in batch if isinstance(item, Document)]
            for item in batch:
                if isinstance(item, DocumentError):
                    err.write(json.dumps(item.as_dict(), ensure_ascii=False) + "\n")
                    failed += 1
            for result in _classify_isolating_failures(writer, documents, err):
                if result is None:
                    failed += 1
                else:
                    out.write(json.dumps(result, ensure_ascii=False) + "\n")
                    classified += 1
            out.flush()
            err.flush()
            bar.update(len(batch))
    if failed == 0:
        errors_file.unlink()
    return BatchResult(classified, failed, output, errors_file if failed else None)


def _classify_isolating_failures(writer: ClassificationWriter, documents: list[Document], err) -> list[dict | None]:
    """Classify a batch; if it fails, classify one at a time so one bad record fails alone."""
    if not documents:
        return []
    try:
        return writer.classify(documents)
    except Exception:
        results = []
        for doc in documents:
            try:
                results.extend(writer.classify([doc]))
            except Exception as error:  # reason names the error type only: never the text
                failure = DocumentError(doc.source, f"classification failed ({type(error).__name__})", doc.id)
                err.write(json.dumps(failure.as_dict(), ensure_ascii=False) + "\n")
                results.append(None)
        return results

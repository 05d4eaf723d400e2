"""Load the user's own labelled files (CSV/TSV, JSONL, or a folder of .txt files) for training."""

from __future__ import annotations

import logging
from pathlib import Path

from datasets import Dataset

from corpora.files import LABEL, LABELS, to_dataset
from nlp.documents import Document, DocumentError, Fields, read_documents

log = logging.getLogger(__name__)


def load_files(path: str | Path, fields: Fields, multi_label: bool | None = None,
               errors: list[DocumentError] | None = None) -> Dataset:
    """Read labelled documents into a Dataset with ``id``, ``text`` and ``label`` or ``labels``.

    Records that cannot be read are skipped and appended to ``errors`` (when given) or logged by
    file and line, never by content.

    Args:
        path: A CSV/TSV or JSONL file, or a folder with one sub-folder of ``.txt`` files per label.
        fields: Which columns hold the text, id and label(s); ``fields.label`` is required.
        multi_label: Force the task; by default multi-label when any record has other than one label.
        errors: A list that collects the skipped records.

    Raises:
        nlp.documents.InputError: The input as a whole is unreadable, or holds no valid record.
    """
    from nlp.documents import InputError

    if not fields.label:
        fields = Fields(fields.text, fields.id, "label", fields.label_delimiter)
    documents: list[Document] = []
    for item in read_documents(path, fields):
        if isinstance(item, DocumentError):
            if errors is not None:
                errors.append(item)
            else:
                log.warning("skipped %s: %s", item.source, item.reason)
        else:
            documents.append(item)
    if not documents:
        raise InputError(f"{path}: no valid labelled record")
    if multi_label is None:
        multi_label = any(len(doc.labels) != 1 for doc in documents)
    if not multi_label:
        single = [d for d in documents if len(d.labels) == 1]
        for doc in documents:
            if len(doc.labels) != 1:
                skipped = DocumentError(doc.source, f"expected one label, found {len(doc.labels)}", doc.id)
                errors.append(skipped) if errors is not None else log.warning("skipped %s: %s", doc.source, skipped.reason)
        documents = single
        if not documents:
            raise InputError(f"{path}: no record with exactly one label")
    if multi_label:
        return to_dataset([{"id": d.id, "text": d.text, "labels": d.labels} for d in documents], LABELS)
    return to_dataset([{"id": d.id, "text": d.text, "label": d.labels[0]} for d in documents], LABEL)

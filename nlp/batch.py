"""Classify or summarize a file of documents in streaming batches, writing results and an errors file.

Memory stays flat in the size of the input: records are read lazily, classified ``batch_size`` at a
time, and each batch's results are written (and flushed) in input order; with ``workers > 1`` batches
are classified in forked worker processes, at most two per worker in flight. A record that cannot be
read or classified goes to ``<output>.errors.jsonl`` with its id, source line and reason; all valid
records are still classified.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import orjson
from tqdm import tqdm

from nlp.documents import Document, DocumentError, Fields, InputError, count_records, read_documents
from nlp.model_store import Model, ModelError
from nlp.parallel import worker_pool

DEFAULT_BATCH_SIZE = 256


@dataclass
class BatchResult:
    """Counts of a batch run and where its files are."""

    processed: int
    failed: int
    output: Path
    errors: Path | None
    seconds: float


def errors_path(output: Path) -> Path:
    """``out.jsonl`` -> ``out.errors.jsonl``."""
    stem = output.name[: -len(".jsonl")] if output.name.endswith(".jsonl") else output.name
    return output.with_name(f"{stem}.errors.jsonl")


def json_line(record: dict) -> bytes:
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


def batched(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


class ClassificationWriter:
    """Classifies batches of documents with a loaded model and formats one JSON object per document."""

    description = "classify"

    def __init__(self, model: Model, explain: bool = True, top_k: int = 10):
        self.model = model
        self.explain = explain
        self.top_k = top_k
        self.names = model.label_names

    def __call__(self, documents: list[Document]) -> list[dict]:
        """Result dicts for ``documents``, in order."""
        estimator = self.model.estimator
        texts = [doc.text for doc in documents]
        features = estimator.transform(texts, explain=self.explain)
        proba = estimator.predict_proba_features(features)
        picks = estimator.decide(proba)
        explanations = (estimator.explain(texts, features, picks, self.top_k) if self.explain
                        else [None] * len(documents))
        classes = [str(c) for c in estimator.classes_]
        rounded = proba.round(4).tolist()
        results = []
        for doc, row, chosen, explanation in zip(documents, rounded, picks, explanations):
            labels = [classes[i] for i in chosen]
            result = {"id": doc.id}
            if not self.model.multi_label:
                result["label"] = labels[0]
            result["labels"] = labels
            result["label_names"] = [self.names.get(label, label) for label in labels]
            result["scores"] = dict(zip(classes, row))
            if explanation is not None:
                result["explanation"] = explanation
            results.append(result)
        return results


class SummaryWriter:
    """Summarizes batches of documents and formats ``{"id", "summary", "sentences"}`` per document."""

    description = "summarize"

    def __init__(self, summarizer, max_words: int | None = None, max_sentences: int | None = None,
                 sections: list[str] | None = None):
        self.summarizer = summarizer
        self.options = {"max_words": max_words, "max_sentences": max_sentences, "sections": sections}

    def __call__(self, documents: list[Document]) -> list[dict]:
        summaries = self.summarizer.summarize([doc.text for doc in documents], **self.options)
        return [{"id": doc.id, **summary.as_dict()} for doc, summary in zip(documents, summaries)]


class DeidentifyWriter:
    """De-identifies batches of documents: ``{"id", "text", "phi"}`` per document.

    ``text`` is the de-identified note; each ``phi`` item gives the identifier's type, its ``[start, end)`` in
    the input and its replacement's ``[replacement_start, replacement_end)`` in ``text``, never its value.
    """

    description = "deidentify"

    def __init__(self, deidentifier):
        self.deidentifier = deidentifier

    def __call__(self, documents: list[Document]) -> list[dict]:
        done = self.deidentifier.deidentify([doc.text for doc in documents])
        return [{"id": doc.id, "text": result.text, "phi": result.phi} for doc, result in zip(documents, done)]


class DeidentifiedFirst:
    """Runs another writer on de-identified copies of the documents, so nothing it stores or returns holds an
    identifier; its offsets then refer to the de-identified text (which the result carries as ``text``)."""

    def __init__(self, writer, deidentifier):
        self.writer = writer
        self.deidentifier = deidentifier
        self.description = writer.description

    def __call__(self, documents: list[Document]) -> list[dict]:
        from dataclasses import replace

        done = self.deidentifier.deidentify([doc.text for doc in documents])
        results = self.writer([replace(doc, text=result.text) for doc, result in zip(documents, done)])
        return [{**result, "deidentified_text": clean.text} for result, clean in zip(results, done)]
class AnalysisWriter:
    """Analyzes batches of documents (sections, concepts, assertions) and formats
    ``{"id", "sections", "concepts"}`` per document; a record's ``"terms"`` are looked for in it alone.

    Args:
        analyzer: A :class:`nlp.clinical.analyze.ClinicalAnalyzer` (its ``terms`` apply to every document).
        terms: More terms for every document of this run (the API's request-level ``terms``).
        lexicon: Look for the packaged concepts (default: as the analyzer was built).
    """

    description = "analyze"
    fields = Fields(terms="terms")

    def __init__(self, analyzer, terms: tuple = (), lexicon: bool | None = None):
        self.analyzer = analyzer
        self.terms = tuple(terms)
        self.lexicon = lexicon

    def __call__(self, documents: list[Document]) -> list[dict]:
        extra = [(self.terms + tuple(doc.terms or ())) or None for doc in documents]
        analyses = self.analyzer.analyze([doc.text for doc in documents], terms=extra, lexicon=self.lexicon)
        return [{"id": doc.id, **analysis.as_dict()} for doc, analysis in zip(documents, analyses)]


@dataclass
class BatchOutput:
    """One batch's serialized results and errors, ready to append to the files."""

    results: bytes
    errors: bytes
    processed: int
    failed: int
    records: int


def run_batch(writer, batch: list[Document | DocumentError]) -> BatchOutput:
    """Process one batch of records; if the batch fails, one record at a time so a bad record fails alone."""
    documents = [item for item in batch if isinstance(item, Document)]
    failures = [item for item in batch if isinstance(item, DocumentError)]
    try:
        results = writer(documents) if documents else []
    except ModelError:
        raise  # the model cannot run at all (say, its encoder's packages are missing): no record fails alone
    except Exception:
        results = []
        for doc in documents:
            try:
                results.extend(writer([doc]))
            except Exception as error:  # the reason names the error type only: never the text
                failures.append(DocumentError(doc.source, f"{writer.description} failed ({type(error).__name__})",
                                              doc.id))
    return BatchOutput(b"".join(map(json_line, results)), b"".join(json_line(f.as_dict()) for f in failures),
                       len(results), len(failures), len(batch))


_worker_writer = None


def _start_worker(writer) -> None:
    from threadpoolctl import threadpool_limits

    global _worker_writer
    _worker_writer = writer
    threadpool_limits(1)  # one BLAS thread per worker: the workers already use every core


def _run_in_worker(batch: list[Document | DocumentError]) -> BatchOutput:
    return run_batch(_worker_writer, batch)


def _outputs(writer, batches: Iterator[list], workers: int) -> Iterator[BatchOutput]:
    """Each batch's output, in input order; with several workers, at most two batches per worker in flight."""
    first, second = next(batches, None), next(batches, None)
    if first is None:
        return
    batches = itertools.chain([first], [second] if second is not None else [], batches)
    if workers <= 1 or second is None:  # a single batch is not worth starting processes for
        yield from (run_batch(writer, batch) for batch in batches)
        return
    with worker_pool(workers, _start_worker, (writer,), start="fork") as pool:
        pending: deque = deque()
        for batch in batches:
            pending.append(pool.submit(_run_in_worker, batch))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def classify_file(model: Model, input_path: str | Path, output: str | Path, fields: Fields = Fields(),
                  batch_size: int = DEFAULT_BATCH_SIZE, explain: bool = True, progress: bool = True,
                  workers: int = 1) -> BatchResult:
    """Classify every record of ``input_path`` into ``output`` (JSONL), reporting bad records."""
    return process_file(ClassificationWriter(model, explain=explain), input_path, output, fields, batch_size,
                        progress, workers)


def process_file(writer, input_path: str | Path, output: str | Path, fields: Fields | None = None,
                 batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = True, workers: int = 1,
                 on_batch=None, name: str | None = None) -> BatchResult:
    """Run ``writer`` (a ClassificationWriter, SummaryWriter or AnalysisWriter) over every record of ``input_path``.

    Args:
        on_batch: Called as ``on_batch(processed, failed)`` after each batch is written; an exception it
            raises stops the run (how a service cancels a job).
        fields: Which fields hold the text, id and terms (default: the writer's ``fields``, else the defaults).
        name: How the input is named in the errors file's sources (default: its path).

    Raises:
        nlp.documents.InputError: The input as a whole cannot be read.
    """
    output, input_path = Path(output), Path(input_path)
    errors_file = errors_path(output)
    if input_path.exists() and output.exists() and output.resolve() in (input_path.resolve(), errors_file.resolve()):
        raise InputError(f"{output}: the output would overwrite the input; choose another -o")
    if fields is None:
        fields = getattr(writer, "fields", Fields())
    records = read_documents(input_path, fields, name)
    output.parent.mkdir(parents=True, exist_ok=True)
    total = count_records(input_path) if progress else None
    started = time.perf_counter()
    with output.open("wb") as out, errors_file.open("wb") as err:
        processed, failed = process_records(writer, records, out, err, batch_size, progress, workers, on_batch, total)
    seconds = time.perf_counter() - started
    if failed == 0:
        errors_file.unlink()
    return BatchResult(processed, failed, output, errors_file if failed else None, seconds)


def process_records(writer, records: Iterable[Document | DocumentError], out: BinaryIO, err: BinaryIO,
                    batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = True, workers: int = 1, on_batch=None,
                    total: int | None = None) -> tuple[int, int]:
    """Run ``writer`` over ``records`` in batches, appending results to ``out`` and failed records to ``err``
    (JSON lines, flushed after each batch, in input order); returns ``(processed, failed)``.

    The streams can be anything with ``write`` and ``flush`` (plain files, or a service's encrypted store).
    """
    processed = failed = 0
    with tqdm(total=total, unit="doc", desc=writer.description, disable=not progress, dynamic_ncols=True) as bar:
        for done in _outputs(writer, batched(records, batch_size), workers):
            out.write(done.results)
            err.write(done.errors)
            out.flush()
            err.flush()
            processed += done.processed
            failed += done.failed
            bar.update(done.records)
            if on_batch is not None:
                on_batch(processed, failed)
    return processed, failed

"""Dynamic batching: documents of concurrent requests to the same model run together in one call.

A service process has one :class:`DynamicBatcher` per batched model (a transformer classifier, a summarizer),
each with one thread that runs the model. A request hands its documents to the batcher of its model and waits.
Whenever the thread is free it takes every request waiting (up to a budget of documents and characters; after an
optional short wait for more), groups them by options (``explain``, a summary's budget), runs each group's
documents in one call, and gives each request its own results back, in order. Under load, requests pile up while a
batch runs, so batches grow with the load and a lone request waits for nobody (the wait is 0 by default:
``CLINNLP_BATCH_WAIT_MS`` adds one for bigger batches). A request that fails validation never gets here. If a
group's call fails, each of its requests is run alone, so one bad request never fails its neighbours. A request
whose time runs out before its batch starts leaves the queue and takes nothing with it.

Because one thread runs each model, no model object is ever used by two threads at once: the summarizers' spaCy
and torch objects and the transformers' modules need no lock. TF-IDF models and other cheap, stateless paths are
not batched: they run in the request's thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Request:
    documents: list
    group: str
    writer: object
    done: threading.Event = field(default_factory=threading.Event)
    results: list | None = None
    error: BaseException | None = None
    started: bool = False


class BatchTimeout(TimeoutError):
    """The request waited longer than its timeout before its batch started."""


class DynamicBatcher:
    """One model's queue and the thread that runs it.

    Args:
        name: For logs and thread names.
        max_documents: Most documents in one batch (a larger request runs alone).
        max_characters: Most characters in one batch (what the model's cost grows with).
        max_wait: Seconds to wait for more requests once the first arrives (0: take what is there).
    """

    def __init__(self, name: str, max_documents: int = 64, max_characters: int = 200_000, max_wait: float = 0.0):
        self.name = name
        self.max_documents = max_documents
        self.max_characters = max_characters
        self.max_wait = max_wait
        self.queue: deque[_Request] = deque()
        self.condition = threading.Condition()
        self.batches = 0  # counts, for tests and metrics
        self.thread = threading.Thread(target=self._loop, name=f"clinnlp-batch-{name}", daemon=True)
        self.thread.start()

    def run(self, writer, group: str, documents: list, timeout: float | None = None) -> list[dict]:
        """``writer(documents)``, run in a batch with other requests of the same ``group`` (same options)."""
        request = _Request(list(documents), group, writer)
        with self.condition:
            self.queue.append(request)
            self.condition.notify()
        if not request.done.wait(timeout):
            with self.condition:
                if not request.started:
                    self.queue.remove(request)
                    raise BatchTimeout(f"no capacity for {self.name} within {timeout:.0f} s")
            request.done.wait()  # already running: its batch finishes soon
        if request.error is not None:
            raise request.error
        return request.results

    def _take(self) -> list[_Request]:
        with self.condition:
            while not self.queue:
                self.condition.wait()
            if self.max_wait:
                deadline = time.monotonic() + self.max_wait
                while not self._full() and (left := deadline - time.monotonic()) > 0:
                    self.condition.wait(left)
            taken, documents, characters = [], 0, 0
            while self.queue:
                request = self.queue[0]
                size = sum(len(getattr(d, "text", "")) for d in request.documents)
                if taken and (documents + len(request.documents) > self.max_documents
                              or characters + size > self.max_characters):
                    break
                taken.append(self.queue.popleft())
                request.started = True
                documents += len(request.documents)
                characters += size
            return taken

    def _full(self) -> bool:
        return (sum(len(r.documents) for r in self.queue) >= self.max_documents
                or sum(len(getattr(d, "text", "")) for r in self.queue for d in r.documents) >= self.max_characters)

    def _loop(self) -> None:
        while True:
            taken = self._take()
            self.batches += 1
            groups: dict[str, list[_Request]] = {}
            for request in taken:
                groups.setdefault(request.group, []).append(request)
            for requests in groups.values():
                self._run_group(requests)

    @staticmethod
    def _run_group(requests: list[_Request]) -> None:
        documents = [d for request in requests for d in request.documents]
        try:
            results = requests[0].writer(documents)
        except Exception:
            # Find the request at fault: each runs alone and gets its own answer or error.
            for request in requests:
                try:
                    request.results = request.writer(request.documents)
                except Exception as error:
                    request.error = error
                request.done.set()
            return
        offset = 0
        for request in requests:
            request.results = results[offset:offset + len(request.documents)]
            offset += len(request.documents)
            request.done.set()


class Batchers:
    """The batchers of a service process, one per batched model, made on first use."""

    def __init__(self, enabled: bool = True, max_wait: float = 0.0, max_documents: int = 64,
                 max_characters: int = 200_000, timeout: float = 120.0):
        self.enabled = enabled
        self.max_wait = max_wait
        self.max_documents = max_documents
        self.max_characters = max_characters
        self.timeout = timeout
        self.batchers: dict[tuple, DynamicBatcher] = {}
        self.lock = threading.Lock()

    def batcher(self, resource: tuple) -> DynamicBatcher:
        with self.lock:
            if resource not in self.batchers:
                self.batchers[resource] = DynamicBatcher(":".join(resource), self.max_documents,
                                                         self.max_characters, self.max_wait)
            return self.batchers[resource]

    def writer(self, options, registry):
        """A writer for ``options`` that runs through its model's batcher (or directly, for paths that are not
        batched): what the API's endpoints and the job runner both call. With ``deidentify`` set, documents are
        de-identified first, on the de-identifier's own batcher, and the writer sees only the de-identified text."""
        plain = options.writer(registry)
        resource = options.batch_resource(registry)
        routed = plain if resource is None else self._route(resource, plain, options.model_dump_json())
        if getattr(options, "deidentify", False):
            from nlp.batch import DeidentifiedFirst

            return DeidentifiedFirst(routed, _RoutedDeidentifier(self))
        return routed

    def _route(self, resource: tuple, writer, group: str):
        batcher = self.batcher(resource)
        if not self.enabled:
            # Turned off, a batch of one still runs on the model's own thread: models are never shared by threads.
            return _Routed(lambda documents: batcher.run(writer, f"{group}:{id(documents)}", documents), writer)
        return _Routed(lambda documents: batcher.run(writer, group, documents, self.timeout), writer)


class _Routed:
    """A writer that sends its documents through a batcher (keeps the plain writer's description)."""

    def __init__(self, run, plain):
        self.run = run
        self.description = plain.description

    def __call__(self, documents):
        return self.run(documents)


class _RoutedDeidentifier:
    """The redacting de-identifier of ``classify``/``summarize`` with ``deidentify``, run on the de-identifier's
    batcher thread (one spaCy and Presidio pipeline serves the whole process)."""

    def __init__(self, batchers: Batchers):
        from nlp.privacy import Deidentifier

        from service.options import DEIDENTIFY

        deidentifier = Deidentifier()

        def redact(documents):
            return deidentifier.deidentify([document.text for document in documents])

        redact.description = "deidentify"
        self.run = batchers._route(DEIDENTIFY, redact, "redact-first")

    def deidentify(self, texts: list[str]):
        from nlp.documents import Document

        return self.run([Document(str(i), text, "") for i, text in enumerate(texts)])

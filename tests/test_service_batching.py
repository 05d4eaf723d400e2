"""Dynamic batching: concurrent requests run together, each gets its own results (the same as alone), one bad
request never fails its neighbours, and a request that times out in the queue leaves nothing behind."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from nlp.documents import Document
from service.batching import BatchTimeout, Batchers, DynamicBatcher


class Echo:
    """A writer that records each call's size and fails on a poisoned document."""

    description = "echo"

    def __init__(self, delay: float = 0.0):
        self.calls: list[int] = []
        self.delay = delay

    def __call__(self, documents):
        self.calls.append(len(documents))
        time.sleep(self.delay)
        if any(d.text == "poison" for d in documents):
            raise RuntimeError("bad document")
        return [{"id": d.id, "length": len(d.text)} for d in documents]


def documents(prefix: str, count: int):
    return [Document(f"{prefix}{i}", "x" * (i + 1), "t") for i in range(count)]


def test_batcher_merges_concurrent_requests_and_returns_each_its_own_results():
    writer = Echo(delay=0.05)
    batcher = DynamicBatcher("echo", max_documents=64)
    with ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(batcher.run, writer, "g", documents(f"r{n}-", n % 4 + 1)) for n in range(12)]
        answers = [f.result() for f in futures]
    for n, answer in enumerate(answers):
        assert [a["id"] for a in answer] == [f"r{n}-{i}" for i in range(n % 4 + 1)]
    assert len(writer.calls) < 12 and sum(writer.calls) == sum(n % 4 + 1 for n in range(12))


def test_batcher_runs_groups_with_their_own_writer():
    first, second = Echo(0.02), Echo(0.02)
    batcher = DynamicBatcher("two")
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(batcher.run, w, name, documents(name, 2))
                   for w, name in [(first, "a"), (second, "b")] * 3]
        for future in futures:
            future.result()
    assert sum(first.calls) == sum(second.calls) == 6


def test_one_bad_request_never_fails_its_neighbours():
    writer = Echo(delay=0.05)
    batcher = DynamicBatcher("poison")
    with ThreadPoolExecutor(4) as pool:
        good = [pool.submit(batcher.run, writer, "g", documents(f"ok{n}-", 2)) for n in range(3)]
        bad = pool.submit(batcher.run, writer, "g", [Document("p", "poison", "t")])
        assert all(len(f.result()) == 2 for f in good)
        with pytest.raises(RuntimeError, match="bad document"):
            bad.result()


def test_a_request_that_times_out_in_the_queue_leaves_nothing_behind():
    gate = threading.Event()

    class Slow(Echo):
        def __call__(self, documents):
            gate.wait(10)
            return super().__call__(documents)

    batcher = DynamicBatcher("slow", max_documents=1)
    blocker = threading.Thread(target=batcher.run, args=(Slow(), "g", documents("a", 1)))
    blocker.start()
    time.sleep(0.1)  # the first request's batch is running
    with pytest.raises(BatchTimeout):
        batcher.run(Slow(), "g", documents("b", 1), timeout=0.2)
    assert len(batcher.queue) == 0
    gate.set()
    blocker.join()


@pytest.fixture(scope="module")
def registry():
    from service.registry import Registry

    return Registry.load(("ohsumed-transformer", "mtsamples-transformer"), ("extractive",))


ABSTRACTS = ["Coronary angioplasty after acute myocardial infarction in patients with chest pain.",
             "Asthma exacerbations in children treated with inhaled steroids; admissions fell by half. " * 3,
             "Breast cancer screening with mammography in women over fifty.",
             "Hip fracture surgery within 24 hours reduced mortality in the elderly. " * 6]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["ohsumed-transformer", "mtsamples-transformer"])
def test_batched_transformer_results_equal_unbatched_ones(registry, model):
    from service.options import ClassifyOptions

    batchers = Batchers()
    requests = [([Document(f"{i}-{j}", text, "t") for j, text in enumerate(ABSTRACTS[i:] + ABSTRACTS[:i])][: i + 1],
                 bool(i % 2)) for i in range(8)]
    alone = [ClassifyOptions(model=model, explain=explain).writer(registry)(docs) for docs, explain in requests]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda r: batchers.writer(ClassifyOptions(model=model, explain=r[1]), registry)(r[0]),
                                 requests))
    # A batch pads every document to its longest one, which changes the order of the sums: in fp32 the scores move
    # in the fourth decimal, in bfloat16 (8 bits of mantissa, torch's choice on CPUs that have it) in the third. A
    # label may then differ only where its score sits at the decision threshold within that tolerance.
    estimator = registry.classifiers[model].estimator
    tolerance = 1e-2 if estimator.inference_runtime()[1] == "bf16" else 2e-3
    for single, batched in zip(alone, together):
        assert [r["id"] for r in single] == [r["id"] for r in batched]
        for a, b in zip(single, batched):
            np.testing.assert_allclose(list(a["scores"].values()), list(b["scores"].values()), atol=tolerance)
            for label in set(a["labels"]) ^ set(b["labels"]):
                assert abs(a["scores"][label] - estimator.threshold) <= tolerance, (label, a["scores"][label])
            assert ("explanation" in a) == ("explanation" in b)
    assert batchers.batcher(("classify", model)).batches < len(requests)  # requests did share batches


@pytest.mark.slow
def test_summaries_from_many_threads_equal_serial_ones(registry):
    from service.options import SummarizeOptions

    batchers = Batchers()
    options = SummarizeOptions(method="extractive", max_words=25)
    serial = [options.writer(registry)([Document(str(i), t, "t")]) for i, t in enumerate(ABSTRACTS * 3)]
    with ThreadPoolExecutor(8) as pool:
        threaded = list(pool.map(lambda item: batchers.writer(options, registry)([Document(str(item[0]), item[1], "t")]),
                                 enumerate(ABSTRACTS * 3)))
    assert [s[0]["summary"] for s in serial] == [t[0]["summary"] for t in threaded]

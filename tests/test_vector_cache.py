"""Training's memory of document vectors (nlp/classifiers/vector_cache.py), with a stand-in encoder."""

from __future__ import annotations

import hashlib

import numpy as np

from nlp.classifiers.vector_cache import VectorCache, active, remembering


def counting_encoder(calls: list):
    def encode(texts):
        calls.append(len(texts))
        return np.array([[len(text), text.count("a")] for text in texts], dtype=np.float32)
    return encode


def test_each_text_is_encoded_once_and_found_again_by_the_next_process(tmp_path):
    # One text whose sha256 ends in a zero byte: stored as fixed-width numpy bytes it would lose it and never match.
    zero_ending = next(f"note {i}" for i in range(10_000) if hashlib.sha256(f"note {i}".encode()).digest()[-1] == 0)
    texts = ["alpha", "beta", "alpha", zero_ending]
    calls: list = []
    first = VectorCache(tmp_path).vectors("space", texts, counting_encoder(calls))
    assert calls == [3] and first.shape == (4, 2) and (first[0] == first[2]).all()
    again = VectorCache(tmp_path).vectors("space", texts[::-1], counting_encoder(calls))
    assert calls == [3]  # nothing encoded: the file had every text, the zero-ending hash too
    np.testing.assert_array_equal(again, first[::-1])
    VectorCache(tmp_path).vectors("another encoder", texts[:1], counting_encoder(calls))
    assert calls == [3, 1]  # vectors of one encoder never answer for another


def test_a_damaged_file_is_encoded_again_and_memory_only_writes_nothing(tmp_path):
    calls: list = []
    VectorCache(tmp_path).vectors("space", ["alpha"], counting_encoder(calls))
    (stored,) = tmp_path.glob("vectors-*.npz")
    stored.write_bytes(stored.read_bytes()[:40])
    VectorCache(tmp_path).vectors("space", ["alpha"], counting_encoder(calls))
    assert calls == [1, 1]
    memory = tmp_path / "memory"
    memory.mkdir()
    VectorCache(None).vectors("space", ["alpha"], counting_encoder(calls))
    assert not any(memory.iterdir())


def test_only_a_remembering_block_is_active():
    assert active() is None
    with remembering(None) as cache:
        assert active() is cache
    assert active() is None

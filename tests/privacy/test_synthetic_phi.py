"""The synthetic PHI corpus generator: every type in both splits, spans that point at their values, splits apart."""

from __future__ import annotations

from corpora.synthetic_phi import generate
from nlp.privacy import PHI_TYPES

NOTE = {"sample_id": "1", "transcription": "HISTORY: Chest pain for two days.\n\nPLAN: Aspirin and a stress test."}


def test_synthetic_phi_splits_hold_every_type_with_exact_spans_and_differ():
    splits = {name: generate(name, notes=80, clean=20, mtsamples=[NOTE, {**NOTE, "sample_id": "2"}])
              for name in ("dev", "eval")}
    expected = set(PHI_TYPES) - {"ID"}  # ID is what the de-identifier calls a number with no label
    for records in splits.values():
        assert {span["type"] for record in records for span in record["spans"]} == expected
        for record in records:
            for span in record["spans"]:
                value = record["text"][span["start"]:span["end"]]
                assert value.strip() == value and value
        assert sum(1 for record in records if not record["spans"]) == 20
    assert {r["text"] for r in splits["dev"]}.isdisjoint(r["text"] for r in splits["eval"] if r["spans"])
    assert generate("eval", notes=5, clean=0) == generate("eval", notes=5, clean=0)  # fixed seeds

"""Transformer explanations one document at a time against the whole batch at once (#13).

Loads a committed transformer model, predicts the first ``--documents`` OHSUMED training abstracts, then explains
each one's top label twice: one ``explain`` call per document, and one call for all of them (one backward pass
per label rank for each batch). Prints both times and whether the explanations agree.

    .venv/bin/python benchmarks/explain_batch.py [--documents 48] [--model ohsumed-transformer]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=48)
    parser.add_argument("--model", default="ohsumed-transformer")
    parser.add_argument("--data-dir")
    args = parser.parse_args()

    import corpora
    from nlp.model_store import load_model

    texts = list(corpora.load_corpus("ohsumed", args.data_dir)["train"]["text"][:args.documents])
    model = load_model(args.model).estimator
    picks = [[int(row.argmax())] for row in model.predict_proba(texts)]
    model.explain(texts[:2], None, picks[:2])  # warm

    started = time.perf_counter()
    alone = [model.explain([text], None, [pick])[0] for text, pick in zip(texts, picks)]
    one_at_a_time = time.perf_counter() - started
    started = time.perf_counter()
    together = model.explain(texts, None, picks)
    batched = time.perf_counter() - started

    same = sum([(i["term"], i["weight"]) for i in a] == [(i["term"], i["weight"]) for i in b]
               for a, b in zip(alone, together))
    print(f"{len(texts)} documents: one at a time {one_at_a_time:.1f} s ({len(texts) / one_at_a_time:.2f} docs/s), "
          f"batched {batched:.1f} s ({len(texts) / batched:.2f} docs/s), {one_at_a_time / batched:.2f}x; "
          f"identical words and weights for {same} of {len(texts)}")


if __name__ == "__main__":
    main()

"""Are the explanations faithful? The deletion test on OHSUMED dev, for TF-IDF and transformer models (#13).

For each abstract the model's top label is explained; deleting every occurrence of its k most-explained words
should lower that label's probability more than deleting k random words (not stop words) of the same abstract.
Prints both curves (mean probability drop, and the share of abstracts whose top label changes) per model; a
transformer model is measured once per attribution (``pooled``, its default, and ``gradient``), with the time its
explanations take.

    .venv/bin/python benchmarks/explanation_faithfulness.py [--documents 100] [--models ohsumed-tfidf ohsumed-transformer]
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=100, help="first N abstracts of the OHSUMED dev part")
    parser.add_argument("--models", nargs="+", default=["ohsumed-tfidf", "ohsumed-transformer"])
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 3, 5, 10])
    parser.add_argument("--repeats", type=int, default=2, help="random draws per k")
    parser.add_argument("--data-dir")
    parser.add_argument("--json", help="also write the curves here")
    args = parser.parse_args()

    import corpora
    from nlp.evaluation import deletion_curves
    from nlp.model_store import load_model

    from nlp.training import TrainingData, carve_dev

    # The dev part the committed models were tuned on (15%, seed 0, grouped by abstract), as `clinnlp train` carves it.
    info = corpora.get_corpus("ohsumed")
    data = TrainingData.from_dataset(corpora.load_corpus("ohsumed", args.data_dir)["train"], {}, info.label_names,
                                     info.grouped_by)
    texts = [data.texts[i] for i in sorted(carve_dev(data, 0.15, 0)[1])[:args.documents]]
    results = {}
    runs = []
    for name in args.models:
        estimator = load_model(name).estimator
        for attribution in (("pooled", "gradient") if hasattr(estimator, "attribution") else (None,)):
            runs.append((f"{name}, {attribution}" if attribution else name, estimator, attribution))
    for label, estimator, attribution in runs:
        if attribution:
            estimator.set_params(attribution=attribution)
        features = estimator.transform(texts, explain=True)
        picks = [[int(row.argmax())] for row in estimator.predict_proba_features(features)]
        started = time.perf_counter()
        estimator.explain(texts, features, picks)
        explaining = time.perf_counter() - started
        curves = deletion_curves(estimator, texts, tuple(args.ks), args.repeats)
        results[label] = {**curves, "explain_seconds": explaining}
        print(f"\n{label}: {curves['documents']} OHSUMED dev abstracts; explaining them took {explaining:.1f} s "
              "after the forward pass")
        print("| k | drop, explained words | drop, random words | top label changed, explained | random |")
        print("|---|---|---|---|---|")
        for row in zip(curves["k"], curves["explained"], curves["random"], curves["flipped_explained"],
                       curves["flipped_random"]):
            print("| {} | {:.3f} | {:.3f} | {:.1%} | {:.1%} |".format(*row))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()

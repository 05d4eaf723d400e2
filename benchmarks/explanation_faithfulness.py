"""Are the explanations faithful? The deletion test on OHSUMED dev, for TF-IDF and transformer models (#13).

For each abstract the model's top label is explained; deleting every occurrence of its k most-explained words
should lower that label's probability more than deleting k random words (not stop words) of the same abstract.
Prints both curves (mean probability drop, and the share of abstracts whose top label changes) per model.

    .venv/bin/python benchmarks/explanation_faithfulness.py [--documents 200] [--models ohsumed-tfidf ohsumed-transformer]
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=200, help="first N abstracts of the OHSUMED dev part")
    parser.add_argument("--models", nargs="+", default=["ohsumed-tfidf", "ohsumed-transformer"])
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 3, 5, 10])
    parser.add_argument("--repeats", type=int, default=3, help="random draws per k")
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
    for name in args.models:
        started = time.perf_counter()
        curves = deletion_curves(load_model(name).estimator, texts, tuple(args.ks), args.repeats)
        results[name] = curves
        print(f"\n{name}: {curves['documents']} OHSUMED dev abstracts, {time.perf_counter() - started:.0f} s")
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

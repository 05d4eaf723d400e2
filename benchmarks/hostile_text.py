"""Worst-case inputs against ordinary notes: time per character of every path that tokenizes text.

spaCy's tokenizer is quadratic in the length of an unbroken run of prefix or suffix characters; the project
breaks such runs before tokenizing (``nlp.segmentation.tokenizer_safe``). This prints, for each hostile input,
the time per character of segmentation (what summarize, mining and analysis share), of the lead and extractive
summarizers and of TF-IDF classification, and the ratio to ordinary notes (MTSamples transcriptions, or the
bundled examples without the corpora).

    .venv/bin/python benchmarks/hostile_text.py [--chars 100000]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_CHARACTERS = "('=*_[#\"-.!?<>$%&/\\~`;:,)]}{+|^@"


def ordinary_notes(limit_chars: int) -> list[str]:
    try:
        from corpora import load_corpus

        texts = list(load_corpus("mtsamples")["train"]["text"])
    except Exception:  # no corpora here: the bundled made-up notes
        texts = [json.loads(line)["text"] for line in (ROOT / "examples" / "notes.jsonl").read_text().splitlines()]
    chosen, total = [], 0
    while total < limit_chars:
        for text in texts:
            chosen.append(text)
            total += len(text)
            if total >= limit_chars:
                break
    return chosen


def per_char(function, texts: list[str]) -> float:
    started = time.perf_counter()
    function(texts)
    return (time.perf_counter() - started) / sum(map(len, texts)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chars", type=int, default=100_000, help="length of each run input (default 100,000)")
    args = parser.parse_args()

    from nlp.model_store import load_model
    from nlp.segmentation import Segmenter
    from nlp.summarizers import get_summarizer

    segmenter = Segmenter()
    lead, extractive = get_summarizer("lead"), get_summarizer("extractive")
    tfidf = load_model("ohsumed-tfidf").estimator
    paths = {"segment": segmenter.segment, "lead": lambda t: lead.summarize(t, max_words=60),
             "extractive": lambda t: extractive.summarize(t, max_words=60),
             "tfidf classify": tfidf.predict_proba}
    for function in paths.values():
        function(["Warm-up sentence one. Warm-up sentence two."])
    inputs = {"ordinary notes": ordinary_notes(args.chars)}
    inputs.update({f"run of {ch!r}": [ch * args.chars] for ch in RUN_CHARACTERS})
    inputs["1,000,000-character token"] = ["a" * 1_000_000]
    inputs["100,000 one-character lines"] = ["x\n" * 100_000]
    inputs["1,000,000 characters of '('"] = ["(" * 1_000_000]
    baseline = {name: per_char(function, inputs["ordinary notes"]) for name, function in paths.items()}
    print(f"{'input':32} " + " ".join(f"{name:>22}" for name in paths))
    worst = dict.fromkeys(paths, 0.0)
    for label, texts in inputs.items():
        cells = []
        for name, function in paths.items():
            micro = baseline[name] if label == "ordinary notes" else per_char(function, texts)
            ratio = micro / baseline[name]
            if label != "ordinary notes":
                worst[name] = max(worst[name], ratio)
            cells.append(f"{micro:9.2f} us ({ratio:5.1f}x)")
        print(f"{label:32} " + " ".join(f"{cell:>22}" for cell in cells), flush=True)
    print("worst ratio to ordinary notes: " + ", ".join(f"{name} {value:.1f}x" for name, value in worst.items()))


if __name__ == "__main__":
    main()

"""Training the extractive summarizer's sentence scorer on the shared summarization sets (``clinnlp
train-summarizer``): the pairs, the greedy ROUGE oracle that labels sentences, and the fit. Apart from
:mod:`nlp.summarizers.sentence_scorer` so that summarizing never imports the corpus loaders."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime, timezone

import numpy as np

from nlp.summarizers.base import candidates
from nlp.summarizers.sentence_scorer import EXTRA_FEATURES, SentenceScorer, sentence_features

SETS = ("cochrane", "aci_bench", "mts_dialog", "indiana_cxr", "meqsum")
SAMPLE = 300


def load_pairs(name: str, part: str, data_dir: str | None = None) -> tuple[list[str], list[str]]:
    """Texts and reference summaries of a shared set, ``part`` = ``"train"`` (for the scorer and tuning)
    or ``"eval"`` (for the benchmark); the two never share a record.

    Cochrane: its 411 validation pairs, first 205 train / the rest eval. ACI-Bench and MTS-Dialog: their
    train / validation splits (MTS-Dialog train sampled to 300). Indiana and MeQSum: 300 each, disjoint,
    after a seeded shuffle.
    """
    import corpora

    if part not in ("train", "eval"):
        raise ValueError("part must be 'train' or 'eval'")
    splits = corpora.load_corpus(name, data_dir)
    if name == "cochrane":
        records = splits["validation"]
        half = len(records) // 2
        records = records.select(range(half) if part == "train" else range(half, len(records)))
    elif name in ("aci_bench", "mts_dialog"):
        records = splits["train" if part == "train" else "validation"]
        if name == "mts_dialog" and part == "train":
            records = records.shuffle(seed=0).select(range(min(SAMPLE, len(records))))
    else:
        shuffled = splits["train"].shuffle(seed=0)
        start = SAMPLE if part == "train" else 0
        records = shuffled.select(range(start, min(start + SAMPLE, len(shuffled))))
    return list(records["text"]), list(records["summary"])


def ngram_counts(tokens: list[str]) -> tuple[Counter, Counter]:
    return Counter(tokens), Counter(zip(tokens, tokens[1:]))


def ngram_f1(overlap: int, produced: int, wanted: int) -> float:
    """F1 of an n-gram overlap, given how many n-grams were produced and how many the reference has."""
    if not overlap:
        return 0.0
    precision, recall = overlap / produced, overlap / wanted
    return 2 * precision * recall / (precision + recall)


def greedy_oracle(sentence_grams: list[tuple[Counter, Counter]], words: list[int],
                  reference: tuple[Counter, Counter], budget: int) -> list[int]:
    """Indices of the sentences a greedy oracle picks: each step adds the sentence that most raises
    ROUGE-1 + ROUGE-2 F1 against the reference, within ``budget`` words, until nothing raises it."""
    wanted = [sum(r.values()) for r in reference]
    sizes = [(sum(one.values()), sum(two.values())) for one, two in sentence_grams]
    # Only the n-grams a sentence shares with the reference can raise the overlap.
    shared = [[{g: n for g, n in grams[k].items() if g in reference[k]} for k in (0, 1)] for grams in sentence_grams]
    current = [Counter(), Counter()]
    overlap, produced = [0, 0], [0, 0]
    chosen: list[int] = []
    taken: set[int] = set()
    used, best = 0, 0.0
    while True:
        step = None
        for i in range(len(sentence_grams)):
            if i in taken or used + words[i] > budget or not shared[i][0]:
                continue
            gains = [sum(min(current[k][g] + n, reference[k][g]) - min(current[k][g], reference[k][g])
                         for g, n in shared[i][k].items()) for k in (0, 1)]
            value = sum(ngram_f1(overlap[k] + gains[k], produced[k] + sizes[i][k], wanted[k]) for k in (0, 1))
            if value > best and (step is None or value > step[0]):
                step = (value, i, gains)
        if step is None:
            return chosen
        best, index, gains = step
        chosen.append(index)
        taken.add(index)
        used += words[index]
        for k in (0, 1):
            overlap[k] += gains[k]
            produced[k] += sizes[index][k]
            current[k].update(shared[index][k])


def train_scorer(sets: dict[str, tuple[list[str], list[str]]], encoder, segmenter, key_sections: frozenset[str],
                 C: float = 0.1) -> SentenceScorer:
    """Fit the scorer on ``{set name: (texts, reference summaries)}``; every set weighs the same.

    The target is whether the greedy oracle (:func:`greedy_oracle`, at the set's median reference length)
    picks the sentence, so the model learns what a budgeted summary should hold; a logistic regression
    turns the features into that probability.

    Args:
        sets: Training pairs by set name.
        encoder: A :class:`nlp.embeddings.SentenceEncoder`.
        segmenter: A :class:`nlp.segmentation.Segmenter`.
        key_sections: Section categories the ``key_section`` feature marks.
        C: Inverse regularization of the logistic regression.
    """
    import statistics

    from rouge_score import tokenizers
    from sklearn.linear_model import LogisticRegression

    tokenizer = tokenizers.DefaultTokenizer(use_stemmer=True)
    features, targets, weights = [], [], []
    digest = hashlib.sha256()
    for name, (texts, references) in sets.items():
        budget = max(1, int(statistics.median(len(r.split()) for r in references)))
        rows = 0
        for segmented, reference in zip(segmenter.segment(texts), references):
            sentences = candidates(segmented)
            if not sentences:
                continue
            vectors = encoder.encode([s.text for s in sentences])
            grams = [ngram_counts(tokenizer.tokenize(s.text)) for s in sentences]
            picked = set(greedy_oracle(grams, [s.words for s in sentences],
                                       ngram_counts(tokenizer.tokenize(reference)), budget))
            features.append(sentence_features(sentences, vectors, key_sections))
            targets.extend(int(i in picked) for i in range(len(sentences)))
            rows += len(sentences)
        weights.extend([1.0 / max(rows, 1)] * rows)
        for text, reference in zip(texts, references):
            digest.update(json.dumps([name, text, reference]).encode())
    X = np.vstack(features)
    mean, scale = X.mean(axis=0), X.std(axis=0) + 1e-6
    sample_weight = np.array(weights) * len(weights) / sum(weights)
    model = LogisticRegression(C=C, max_iter=2000).fit((X - mean) / scale, np.array(targets),
                                                       sample_weight=sample_weight)
    meta = {"features": f"embedding ({X.shape[1] - len(EXTRA_FEATURES)} dims) + {', '.join(EXTRA_FEATURES)}",
            "target": "picked by the greedy ROUGE-1 + ROUGE-2 oracle at the set's median reference length",
            "model": f"logistic regression, C={C}",
            "sets": {name: len(texts) for name, (texts, _) in sets.items()}, "sentences": int(X.shape[0]),
            "positives": int(sum(targets)), "data_sha256": digest.hexdigest(),
            "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat()}
    return SentenceScorer(model.coef_[0], model.intercept_[0], mean, scale, meta, link="logistic")

"""The default summarizer: MiniLM sentence embeddings, a learned sentence scorer, and MMR.

1. Each candidate sentence (headings excluded; only the requested sections, if any) is embedded with
   MiniLM.
2. Its relevance is predicted by :class:`~nlp.summarizers.sentence_scorer.SentenceScorer` from the
   embedding, its centrality in the text (cosine to the mean sentence embedding, and TF-IDF degree
   centrality), position, length, clinical section and speaker, fitted on the shared summarization sets
   (``clinnlp train-summarizer``). In a transcribed conversation, longer turns get a length bonus.
3. Sentences are picked one at a time by maximal marginal relevance (Carbonell and Goldstein, 1998):
   ``diversity * relevance - (1 - diversity) * (max cosine to a sentence already picked)``, skipping any
   that would break the word budget or nearly repeat a sentence already picked.

The weights were chosen on the "train" records of the shared sets (``benchmarks/summarization_rouge.py
--tune``). With ``scorer=None``, relevance is the unsupervised mix ``centrality + position_weight *
(1 - index / count) + section_weight * [key section] + length_weight * min(words, 30) / 30 -
short_penalty * [fewer than min_words words]``.
"""

from __future__ import annotations

import re

import numpy as np

from nlp.embeddings import DEFAULT_MODEL, SentenceEncoder
from nlp.segmentation import Sentence
from nlp.summarizers.base import Budget, ExtractiveBase, Summary, assemble, truncate

NEAR_DUPLICATE = 0.95  # cosine above which two sentences say the same thing
# In a note with headings, what a clinician reads first: the diagnosis and why the patient came (#18).
PRIORITY_SECTIONS = {
    "assessment": 1.0, "impression": 1.0, "assessment_and_plan": 1.0, "discharge_diagnosis": 1.0,
    "preoperative_diagnosis": 0.8, "postoperative_diagnosis": 0.8, "chief_complaint": 0.8,
    "history_of_present_illness": 0.8, "subjective": 0.6, "plan": 0.6, "procedure": 0.6, "hospital_course": 0.4,
    "findings": 0.4,
}
# Where a negative is the conclusion ("Impression: no acute fracture"), it keeps its priority.
CONCLUSIONS = frozenset({"assessment", "impression", "assessment_and_plan", "discharge_diagnosis",
                         "preoperative_diagnosis", "postoperative_diagnosis"})
# A clause that only reports a normal finding or an absent one ("Lungs clear", "no murmur", "No cough").
_NORMAL_CLAUSE = re.compile(
    r"(?i)^\W*(?:(?:no|not|denies|denied|negative|without|absent)\b|.*\b(?:normal|unremarkable|clear|regular|"
    r"intact|soft|non-?tender|non-?distended|within normal limits|wnl|negative|no acute distress|nad|"
    r"well[- ]appearing|benign|symmetric)\b)")
_CLAUSES = re.compile(r"[,;]|\band\b")
KEY_SECTIONS = frozenset({
    "chief_complaint", "history_of_present_illness", "assessment", "plan", "assessment_and_plan", "impression",
    "findings", "discharge_diagnosis", "hospital_course", "preoperative_diagnosis", "postoperative_diagnosis",
})


def normal_or_negative(text: str) -> bool:
    """Whether every clause of a sentence reports a normal or absent finding (its heading, if any, aside)."""
    body = text.split(":", 1)[1] if ":" in text[:40] else text
    clauses = [c.strip() for c in _CLAUSES.split(body.rstrip(". ")) if c and c.strip()]
    return bool(clauses) and all(_NORMAL_CLAUSE.match(clause) for clause in clauses)


def clinical_prior(sentences: list[Sentence]) -> np.ndarray:
    """In a note with clinical headings, +priority for the sections a clinician reads first and -1 for sentences
    that only report normal or absent findings (pertinent negatives and normal exam findings) outside the
    conclusions; zero for texts without headings (abstracts, dialogues, reports without sections), so those keep
    the learned scores alone."""
    if sum(s.section is not None for s in sentences) < 2:
        return np.zeros(len(sentences))
    return np.array([PRIORITY_SECTIONS.get(s.section, 0.0)
                     - (s.section not in CONCLUSIONS and normal_or_negative(s.text)) for s in sentences], dtype=float)


class ExtractiveSummarizer(ExtractiveBase):
    """Embedding-based extractive summarizer; every selected sentence keeps its offsets in the source.

    Args:
        model: Sentence encoder (see :class:`nlp.embeddings.SentenceEncoder`).
        scorer: ``"default"`` (the packaged learned scorer), a scorer file, or ``None`` for the
            unsupervised relevance (the weights below).
        position_weight: Weight of the position prior (earlier sentences score higher).
        section_weight: Bonus for sentences in key clinical sections (HPI, assessment, plan, impression, ...).
        diversity: MMR trade-off: 1 ranks by relevance alone, lower values avoid repeating content.
        min_words: Sentences shorter than this are penalized (fragments, list stubs).
        short_penalty: The penalty.
        length_weight: Weight of sentence length (log words; unsupervised mode: up to 30 words).
        dialogue_length_weight: The same for transcribed conversations (speaker-labelled lines), with the
            learned scorer.
        clinical_weight: Weight of :func:`clinical_prior` (notes with headings: diagnosis, chief complaint and
            history first, normal and negative findings last).
        encoder: A ready encoder to share between summarizers.
    """

    def __init__(self, model: str = DEFAULT_MODEL, scorer: str | None = "default", position_weight: float = 0.0,
                 section_weight: float = 0.0, diversity: float = 0.85, min_words: int = 5, short_penalty: float = 0.2,
                 length_weight: float = 0.0, dialogue_length_weight: float = 0.2, clinical_weight: float = 1.0,
                 encoder: SentenceEncoder | None = None):
        super().__init__()
        self.position_weight = position_weight
        self.section_weight = section_weight
        self.diversity = diversity
        self.min_words = min_words
        self.short_penalty = short_penalty
        self.length_weight = length_weight
        self.dialogue_length_weight = dialogue_length_weight
        self.clinical_weight = clinical_weight
        self.encoder = encoder or SentenceEncoder(model)
        self.scorer = None
        if scorer is not None:
            from nlp.summarizers.sentence_scorer import SentenceScorer

            self.scorer = SentenceScorer.load(None if scorer == "default" else scorer)

    def summarize_sentences(self, pools: list[list[Sentence]], budget: Budget) -> list[Summary]:
        # One encoder call for every sentence of every text: bigger, length-sorted batches.
        embeddings = self.encoder.encode([s.text for pool in pools for s in pool])
        summaries, offset = [], 0
        for pool in pools:
            vectors = embeddings[offset:offset + len(pool)]
            offset += len(pool)
            summaries.append(self.select(pool, vectors, budget) if pool else Summary(""))
        return summaries

    def relevance(self, sentences: list[Sentence], vectors: np.ndarray) -> np.ndarray:
        if self.scorer is not None:
            from nlp.summarizers.sentence_scorer import sentence_features

            words = np.array([s.words for s in sentences], dtype=float)
            # In a transcribed conversation a "sentence" is mostly a whole speaker turn, and longer turns
            # carry the clinical content (measured on ACI-Bench and MTS-Dialog); in prose, length is left
            # to the scorer.
            conversation = sum(s.speaker is not None for s in sentences) >= len(sentences) / 2
            weight = self.dialogue_length_weight if conversation else self.length_weight
            return (self.scorer.predict(sentence_features(sentences, vectors, KEY_SECTIONS))
                    + weight * np.log1p(words) / np.log(31) + self.clinical_weight * clinical_prior(sentences))
        centroid = vectors.mean(axis=0)
        norm = np.linalg.norm(centroid)
        centrality = vectors @ (centroid / norm) if norm > 0 else np.zeros(len(sentences))
        count = len(sentences)
        position = 1.0 - np.arange(count) / count
        in_key_section = np.array([s.section in KEY_SECTIONS for s in sentences], dtype=float)
        words = np.array([s.words for s in sentences], dtype=float)
        return (centrality + self.position_weight * position + self.section_weight * in_key_section
                + self.length_weight * np.minimum(words, 30) / 30 - self.short_penalty * (words < self.min_words))

    def select(self, sentences: list[Sentence], vectors: np.ndarray, budget: Budget) -> Summary:
        relevance = self.relevance(sentences, vectors)
        words = np.array([s.words for s in sentences])
        available = np.ones(len(sentences), dtype=bool)
        redundancy = np.full(len(sentences), -1.0)
        chosen: list[int] = []
        used = 0
        limit = budget.sentences
        while available.any() and (limit is None or len(chosen) < limit):
            if budget.max_words is not None:
                available &= used + words <= budget.max_words
                if not available.any():
                    break
            gain = self.diversity * relevance - (1 - self.diversity) * np.maximum(redundancy, 0.0)
            best = int(np.argmax(np.where(available, gain, -np.inf)))
            chosen.append(best)
            used += words[best]
            similarity = vectors @ vectors[best]
            available[best] = False
            available &= similarity < NEAR_DUPLICATE  # a repeated sentence never appears twice
            redundancy = np.maximum(redundancy, similarity)
        if not chosen and budget.max_words is not None:
            best = int(np.argmax(relevance))
            return assemble([(truncate(sentences[best], budget.max_words), float(relevance[best]))])
        return assemble([(sentences[i], float(relevance[i])) for i in chosen])

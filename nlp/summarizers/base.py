"""What every summarizer shares: the result types, the length budget, and budgeted selection."""

from __future__ import annotations

from dataclasses import dataclass, field

from nlp.segmentation import Segmented, Segmenter, Sentence, resolve_sections

DEFAULT_MAX_SENTENCES = 3


@dataclass(frozen=True)
class Budget:
    """Length limits: ``max_words`` is a hard cap on the summary's words; ``max_sentences`` caps sentences.
    With neither set, summaries have at most :data:`DEFAULT_MAX_SENTENCES` sentences."""

    max_words: int | None = None
    max_sentences: int | None = None

    def __post_init__(self):
        for name in ("max_words", "max_sentences"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")

    @property
    def sentences(self) -> int | None:
        if self.max_words is None and self.max_sentences is None:
            return DEFAULT_MAX_SENTENCES
        return self.max_sentences


@dataclass(frozen=True)
class SummarySentence:
    """A sentence of an extractive summary, with its ``[start, end)`` offsets in the source and its score."""

    text: str
    start: int
    end: int
    score: float


@dataclass
class Summary:
    """A summary; ``sentences`` is empty for abstractive summaries."""

    text: str
    sentences: list[SummarySentence] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"summary": self.text,
                "sentences": [{"text": s.text, "start": s.start, "end": s.end, "score": round(s.score, 4)}
                              for s in self.sentences]}


def candidates(segmented: Segmented, sections: set[str] | None = None) -> list[Sentence]:
    """Sentences a summary may use: not headings, and in the requested sections if any were asked for (the one
    rule every summarizer, the scorer's training and mining share)."""
    return [s for s in segmented.sentences
            if not s.is_heading and (sections is None or s.section in sections)]


def truncate(sentence: Sentence, max_words: int) -> Sentence:
    """The first ``max_words`` words of a sentence, offsets kept exact."""
    words = sentence.text.split()
    if len(words) <= max_words:
        return sentence
    cut, position = 0, 0
    for word in words[:max_words]:
        position = sentence.text.index(word, position) + len(word)
        cut = position
    return Sentence(sentence.text[:cut], sentence.start, sentence.start + cut, sentence.section)


def select_ranked(sentences: list[Sentence], ranking: list[int], scores: list[float], budget: Budget) -> Summary:
    """Take sentences best-first while they fit the budget (a sentence too long for what is left is
    skipped for a shorter one); the summary keeps source order. When not even the best sentence fits
    ``max_words``, its first words are used."""
    chosen, words = [], 0
    limit = budget.sentences
    for index in ranking:
        if limit is not None and len(chosen) >= limit:
            break
        length = sentences[index].words
        if budget.max_words is not None and words + length > budget.max_words:
            continue
        chosen.append(index)
        words += length
    if not chosen and ranking and budget.max_words is not None:
        best = ranking[0]
        return assemble([(truncate(sentences[best], budget.max_words), scores[best])])
    return assemble([(sentences[i], scores[i]) for i in chosen])


def assemble(picked: list[tuple[Sentence, float]]) -> Summary:
    ordered = sorted(picked, key=lambda item: item[0].start)
    return Summary(" ".join(s.text for s, _ in ordered),
                   [SummarySentence(s.text, s.start, s.end, float(score)) for s, score in ordered])


class ExtractiveBase:
    """Segments texts, then asks :meth:`rank` to order each text's candidate sentences."""

    def __init__(self):
        self.segmenter = Segmenter()

    def summarize(self, texts: list[str], max_words: int | None = None, max_sentences: int | None = None,
                  sections: list[str] | None = None) -> list[Summary]:
        """One summary per text.

        Args:
            texts: The documents.
            max_words: Hard cap on each summary's words.
            max_sentences: Cap on each summary's sentences.
            sections: Only summarize these note sections (e.g. ``["hpi", "assessment", "plan"]``);
                a text without them gets an empty summary.
        """
        budget = Budget(max_words, max_sentences)
        wanted = resolve_sections(sections) if sections else None
        segmented = self.segmenter.segment(list(texts))
        pools = [candidates(s, wanted) for s in segmented]
        return self.summarize_sentences(pools, budget)

    def summarize_sentences(self, pools: list[list[Sentence]], budget: Budget) -> list[Summary]:
        summaries = []
        for pool in pools:
            if not pool:
                summaries.append(Summary(""))
                continue
            ranking, scores = self.rank(pool)
            summaries.append(select_ranked(pool, ranking, scores, budget))
        return summaries

    def rank(self, sentences: list[Sentence]) -> tuple[list[int], list[float]]:
        raise NotImplementedError

"""Clinical analysis of documents: sections, concept mentions and their assertions, with character offsets.

One spaCy pass per document (the tokenizer and sentence rules of :class:`nlp.segmentation.Segmenter`, the
same the summarizer uses), the one section finder (:mod:`nlp.clinical.sections`), concept matching over the
packaged lexicon plus the caller's terms (:mod:`nlp.clinical.concepts`), and ConText
(:mod:`nlp.clinical.context`). Every offset is a character offset into the text as given:
``text[start:end]`` is the mention.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from nlp.clinical.concepts import TermTrie, resolve, token_forms
from nlp.clinical.context import ATTRIBUTES, MAX_SENTENCE_TOKENS, Assertion, ContextEngine
from nlp.clinical.lexicon import Term, packaged_terms
from nlp.clinical.sections import Section, find_sections, heading_end, section_at
from nlp.segmentation import tokenizer_safe


@dataclass(frozen=True)
class Concept:
    """A concept mention: where it is, what it names, the section it is in, and its assertion."""

    text: str
    start: int
    end: int
    concept: str
    category: str
    section: str | None
    assertion: Assertion

    def as_dict(self) -> dict:
        return {"text": self.text, "start": self.start, "end": self.end, "concept": self.concept,
                "category": self.category, "section": self.section, **self.assertion.as_dict()}

    @property
    def affirmed(self) -> bool:
        """Present in the patient now: not negated, hypothetical, uncertain, historical or a relative's."""
        return not any(getattr(self.assertion, name) for name in ATTRIBUTES)


@dataclass
class Analysis:
    """The sections and concept mentions of one document."""

    sections: list[Section] = field(default_factory=list)
    concepts: list[Concept] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"sections": [s.as_dict() for s in self.sections], "concepts": [c.as_dict() for c in self.concepts]}


_SHARED = None


class ClinicalAnalyzer:
    """Finds sections, concept mentions and assertions.

    Args:
        terms: Extra terms looked for in every document (``--terms FILE``); they win over packaged concepts
            they overlap.
        lexicon: Also look for the packaged concepts (``False``: only ``terms`` and per-document terms).
        segmenter: A :class:`~nlp.segmentation.Segmenter` to share (its spaCy pipeline is reused).
    """

    def __init__(self, terms: tuple[Term, ...] | list[Term] = (), lexicon: bool = True, segmenter=None):
        from nlp.segmentation import Segmenter

        self.segmenter = segmenter or Segmenter()
        self.terms = tuple(terms)
        self.lexicon = lexicon
        nlp = self.segmenter.pipeline
        self._tokenizer = nlp.tokenizer
        self._packaged = TermTrie(nlp.tokenizer, packaged_terms()) if lexicon else None
        self._user = TermTrie(nlp.tokenizer, self.terms, user=True) if self.terms else None
        self.context = ContextEngine(nlp)

    @classmethod
    def shared(cls) -> "ClinicalAnalyzer":
        """One analyzer with the packaged lexicon per process, for every user of the default (the findings
        model and the service), built on first use."""
        global _SHARED
        if _SHARED is None:
            _SHARED = cls()
        return _SHARED

    def analyze(self, texts: list[str], terms: list[tuple[Term, ...] | None] | None = None,
                batch_size: int = 64, lexicon: bool | None = None) -> list[Analysis]:
        """One :class:`Analysis` per text.

        Args:
            texts: The documents.
            terms: Per document, extra terms for that document only (a record's ``"terms"``), or None.
            lexicon: Look for the packaged concepts (default: as the analyzer was built); ``False`` leaves
                only the caller's terms.
        """
        texts = list(texts)
        terms = list(terms) if terms is not None else [None] * len(texts)
        if len(terms) != len(texts):
            raise ValueError(f"got {len(texts)} texts and {len(terms)} term lists")
        packaged = self._packaged if lexicon is not False else None
        # spaCy reads the tokenizer-safe copy (the same length, long runs without whitespace broken); every
        # offset and every mention's text come from the original.
        docs = self.segmenter.pipeline.pipe(map(tokenizer_safe, texts), batch_size=batch_size)
        return [self._analyze_doc(text, doc, extra, packaged) for text, doc, extra in zip(texts, docs, terms)]

    def _analyze_doc(self, text: str, doc, extra: tuple[Term, ...] | None, packaged) -> Analysis:
        sections = find_sections(text)
        if len(doc) == 0:
            return Analysis(sections, [])
        token_starts = doc.to_array("IDX").astype(np.int64)
        headings = [(_token_at(token_starts, s.start), _first_token_from(token_starts, heading_end(text, s) + 1))
                    for s in sections]
        starts = _sentence_starts(doc, token_starts, text, sections)
        lower, exact, positions = token_forms(doc)
        found = []
        for trie in (packaged, self._user):
            if trie is not None:
                found.extend(trie.find(lower, exact, positions))
        if extra:
            found.extend(TermTrie(self._tokenizer, extra, user=True).find(lower, exact, positions))
        mentions = resolve(found)
        spans = [doc[m.start:m.end] for m in mentions]
        char_spans = [(span.start_char, span.end_char) for span in spans]
        in_sections = [section_at(sections, start) for start, _ in char_spans]
        categories = [s.category if s else None for s in in_sections]
        assertions = self.context.assert_mentions(doc, spans, starts, headings, categories, (lower, positions))
        concepts = [Concept(text[start:end], start, end, mention.term.concept, mention.term.category, category,
                            assertion)
                    for mention, (start, end), category, assertion
                    in zip(mentions, char_spans, categories, assertions)]
        return Analysis(sections, concepts)


def _token_at(token_starts: np.ndarray, offset: int) -> int:
    """The token that holds character ``offset``."""
    return max(0, int(np.searchsorted(token_starts, offset, side="right")) - 1)


def _first_token_from(token_starts: np.ndarray, offset: int) -> int:
    """The first token that starts at or after character ``offset`` (the doc's length if none)."""
    return int(np.searchsorted(token_starts, offset, side="left"))


def _list_item_starts(doc, starts: set[int]) -> list[int]:
    """Token indices of the items of inline numbered lists ("DIAGNOSIS: 1) Esophagitis s/p biopsy 2) Hiatal
    hernia"), each to be a sentence of its own so that a trigger in one item does not reach into the next.

    A list is an item "1)" that opens a sentence (in ``starts``: after a heading's colon or a sentence's end)
    followed by "2)", "3)", ... in order. A list after a lead-in in its own sentence ("Denies: 1) fever 2)
    chills") is left whole: the lead-in's trigger governs every item. A number whose ")" closes a "(" opened
    since the sentence started ("(series 2)") is not an item, nor is a number out of order ("take 2) tablets").
    """
    from spacy.attrs import ORTH

    forms = doc.to_array(ORTH)
    opening, closing = doc.vocab.strings["("], doc.vocab.strings[")"]
    sentence_starts = sorted(starts)
    items: list[int] = []
    depth, expected, last = 0, None, -1
    for index in np.flatnonzero((forms == opening) | (forms == closing)).tolist():
        # Brackets left open in an earlier sentence do not reach into this one.
        if bisect.bisect_right(sentence_starts, index) != bisect.bisect_right(sentence_starts, last):
            depth = 0
        last = index
        if forms[index] == opening:
            depth += 1
            continue
        number = doc[index - 1] if index > 0 else None
        if number is None or not (number.is_digit and len(number) <= 2) or number.whitespace_ or depth > 0:
            depth = max(0, depth - 1)
            continue
        value = int(number.text)
        if value == 1:
            expected = 2 if _opens_sentence(doc, index - 1, sentence_starts) else None
        elif expected is not None and value == expected:
            items.append(index - 1)
            expected += 1
    return items


def _opens_sentence(doc, position: int, sentence_starts: list[int]) -> bool:
    """Whether only whitespace stands between the start of its sentence and token ``position``."""
    start = sentence_starts[bisect.bisect_right(sentence_starts, position) - 1]
    before = position - 1
    while before >= start and doc[before].is_space:
        before -= 1
    return before < start


def _sentence_starts(doc, token_starts: np.ndarray, text: str, sections: list[Section]) -> list[int]:
    """Token indices where sentences start: the segmenter's, plus every heading's start and the token after
    a heading's colon, each inline numbered item, and a cut every :data:`MAX_SENTENCE_TOKENS` tokens of a
    longer sentence."""
    marks = doc.to_array("SENT_START")
    starts = set(np.flatnonzero(marks == 1).tolist())
    starts.add(0)
    for section in sections:
        starts.add(_token_at(token_starts, section.start))
        after = _first_token_from(token_starts, heading_end(text, section) + 1)
        if after < len(doc):
            starts.add(after)
    starts.update(_list_item_starts(doc, starts))
    ordered = sorted(starts)
    capped = []
    for start, end in zip(ordered, ordered[1:] + [len(doc)]):
        capped.extend(range(start, end, MAX_SENTENCE_TOKENS))
    return capped

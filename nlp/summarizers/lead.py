"""The lead baseline: the first sentences of the text."""

from __future__ import annotations

from nlp.segmentation import Sentence
from nlp.summarizers.base import ExtractiveBase


class LeadSummarizer(ExtractiveBase):
    """First sentences first (headings skipped); scores fall with position."""

    def rank(self, sentences: list[Sentence]) -> tuple[list[int], list[float]]:
        return list(range(len(sentences))), [1.0 / (1 + i) for i in range(len(sentences))]

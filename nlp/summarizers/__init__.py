"""Summarizers, by registered name. Each takes a list of texts and returns a list of summaries:
``summarize(texts, max_words=None, max_sentences=None, sections=None) -> list[Summary]``."""

from __future__ import annotations

from nlp.summarizers.base import Budget, Summary, SummarySentence

SUMMARIZERS = ("extractive", "lead", "textrank", "lexrank", "abstractive")
DEFAULT_SUMMARIZER = "extractive"


def get_summarizer(name: str = DEFAULT_SUMMARIZER, **options):
    """Build the summarizer registered as ``name``; unknown names raise an error listing the known ones.

    ``options`` go to its constructor (for ``abstractive``: ``model``, the checkpoint to use).
    """
    if name == "extractive":
        from nlp.summarizers.extractive import ExtractiveSummarizer

        return ExtractiveSummarizer(**options)
    if name == "lead":
        from nlp.summarizers.lead import LeadSummarizer

        return LeadSummarizer(**options)
    if name in ("textrank", "lexrank"):
        from nlp.summarizers.graph import GraphSummarizer

        return GraphSummarizer(name, **options)
    if name == "abstractive":
        from nlp.summarizers.abstractive import AbstractiveSummarizer

        return AbstractiveSummarizer(**options)
    raise ValueError(f"unknown summarization method {name!r}; known: {', '.join(SUMMARIZERS)}")


__all__ = ["SUMMARIZERS", "DEFAULT_SUMMARIZER", "Budget", "Summary", "SummarySentence", "get_summarizer"]

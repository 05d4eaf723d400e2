"""Summarizers, by registered name. Each takes a list of texts and returns a list of summaries:
``summarize(texts, max_words=None, max_sentences=None, sections=None) -> list[Summary]``.

The registry maps a name to the class that implements it (and the arguments that name fixes); classes are
imported only when a summarizer is built, so listing the methods costs nothing (torch loads with ``extractive``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module

from nlp.summarizers.base import Budget, Summary, SummarySentence

DEFAULT_SUMMARIZER = "extractive"


@dataclass(frozen=True)
class SummarizerType:
    """A registered summarizer: ``module:Class`` and the keyword arguments its name fixes."""

    name: str
    target: str
    fixed: dict = field(default_factory=dict)

    def build(self, **options):
        module, _, attribute = self.target.partition(":")
        return getattr(import_module(module), attribute)(**self.fixed, **options)


_SUMMARIZERS: dict[str, SummarizerType] = {}


def register_summarizer(name: str, target: str, **fixed) -> SummarizerType:
    """Register ``module:Class`` under ``name`` (``fixed`` are arguments the name implies)."""
    if name in _SUMMARIZERS:
        raise ValueError(f"summarization method {name!r} is registered already")
    _SUMMARIZERS[name] = entry = SummarizerType(name, target, fixed)
    return entry


register_summarizer("extractive", "nlp.summarizers.extractive:ExtractiveSummarizer")
register_summarizer("lead", "nlp.summarizers.lead:LeadSummarizer")
register_summarizer("textrank", "nlp.summarizers.graph:GraphSummarizer", algorithm="textrank")
register_summarizer("lexrank", "nlp.summarizers.graph:GraphSummarizer", algorithm="lexrank")
register_summarizer("abstractive", "nlp.summarizers.abstractive:AbstractiveSummarizer")


def summarizer_names() -> tuple[str, ...]:
    """The registered methods, in registration order."""
    return tuple(_SUMMARIZERS)


def get_summarizer(name: str = DEFAULT_SUMMARIZER, **options):
    """Build the summarizer registered as ``name``; unknown names raise an error listing the known ones.

    ``options`` go to its constructor (for ``abstractive``: ``model``, the checkpoint to use).
    """
    try:
        entry = _SUMMARIZERS[name]
    except KeyError:
        raise ValueError(f"unknown summarization method {name!r}; known: {', '.join(_SUMMARIZERS)}") from None
    return entry.build(**options)


__all__ = ["DEFAULT_SUMMARIZER", "Budget", "Summary", "SummarySentence", "SummarizerType", "get_summarizer",
           "register_summarizer", "summarizer_names"]

"""The lead baseline: the first sentences of the text, in order."""

from __future__ import annotations

from nlp.segmentation import Sentence
from nlp.summarizers.base import Budget, ExtractiveBase, Summary, assemble, truncate


class LeadSummarizer(ExtractiveBase):
    """The first sentences (headings skipped), in order, while they fit: a lead summary always starts at the first
    sentence (cut at a word boundary if even that one is over the word budget) and never skips one to fit a
    shorter one later."""

    def summarize_sentences(self, pools: list[list[Sentence]], budget: Budget) -> list[Summary]:
        summaries = []
        for pool in pools:
            picked, words = [], 0
            for index, sentence in enumerate(pool):
                if budget.sentences is not None and len(picked) >= budget.sentences:
                    break
                if budget.max_words is not None and words + sentence.words > budget.max_words:
                    if not picked:
                        picked.append((truncate(sentence, budget.max_words), 1.0))
                    break
                picked.append((sentence, 1.0 / (1 + index)))
                words += sentence.words
            summaries.append(assemble(picked))
        return summaries

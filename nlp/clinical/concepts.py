"""Find the mentions of concepts in a tokenized text: a token trie, longest match first.

Terms are tokenized with the same spaCy tokenizer as the text, and whitespace tokens are skipped on both
sides, so "congestive heart\\nfailure" and "chest   pain" (as dictated notes and the ConText test kit write
them) still match. Synonyms match on the lower-case form, abbreviations only as written ("MI", not "mi").
Matching is exact on tokens (no stemming: the lexicon lists plural forms where they matter). A user's terms
win over packaged concepts they overlap (the user asked about them); otherwise the longest
match wins, then the earliest.
"""

from __future__ import annotations

from dataclasses import dataclass

from nlp.clinical.lexicon import Term

_END = -1  # the key under which a trie node stores what ends there (token keys are non-negative hashes)


@dataclass(frozen=True)
class Mention:
    """A mention: token ``[start, end)`` in the doc, and the term it names."""

    start: int
    end: int
    term: Term
    user: bool = False


class TermTrie:
    """Token sequences -> terms, in two tries: lower-case synonyms and exact-case abbreviations.

    Keys are spaCy string hashes (the ``LOWER`` and ``ORTH`` attributes), so a doc's tokens are looked up
    straight from ``Doc.to_array`` without building a Python string per token.
    """

    def __init__(self, tokenizer, terms, user: bool = False):
        self.user = user
        self.lower: dict = {}
        self.exact: dict = {}
        strings = tokenizer.vocab.strings
        for term in terms:
            for phrase in term.phrases():
                add_phrase(self.lower, [strings.add(t.lower_) for t in tokenizer(phrase) if not t.is_space], term)
            for phrase in term.abbreviations:
                add_phrase(self.exact, [strings.add(t.text) for t in tokenizer(phrase) if not t.is_space], term)

    def find(self, lower: list[int], exact: list[int], positions: list[int]) -> list[Mention]:
        """Every match starting at each token (overlaps are resolved by :func:`resolve`)."""
        found = []
        for root, forms in ((self.lower, lower), (self.exact, exact)):
            if root:
                found.extend(Mention(start, end, term, self.user)
                             for start, end, term in trie_matches(root, forms, positions))
        return found


def add_phrase(root: dict, tokens: list[int], payload) -> None:
    """Add a token sequence to a trie; the first payload to claim a sequence keeps it."""
    if not tokens:
        return
    node = root
    for token in tokens:
        node = node.setdefault(token, {})
    node.setdefault(_END, payload)


def trie_matches(root: dict, forms: list[int], positions: list[int]) -> list[tuple[int, int, object]]:
    """Every match starting at each position, the shorter ones too: ``(first token, last token + 1,
    payload)``. ``forms`` are the non-space tokens' keys and ``positions`` their token indices in the doc;
    the caller resolves overlaps (a longer match usually wins, but a shorter one must be there when the
    longer is ruled out)."""
    found = []
    count = len(forms)
    get = root.get
    for i in range(count):
        node = get(forms[i])
        j = i
        while node is not None:
            if _END in node:
                found.append((positions[i], positions[j] + 1, node[_END]))
            j += 1
            if j >= count:
                break
            node = node.get(forms[j])
    return found


def resolve(mentions: list[Mention]) -> list[Mention]:
    """Non-overlapping mentions in order: user terms first, then longer, then earlier ones."""
    chosen: list[Mention] = []
    taken: set[int] = set()
    for mention in sorted(mentions, key=lambda m: (not m.user, -(m.end - m.start), m.start)):
        span = range(mention.start, mention.end)
        if not taken.intersection(span):
            chosen.append(mention)
            taken.update(span)
    return sorted(chosen, key=lambda m: m.start)


def token_forms(doc) -> tuple[list[int], list[int], list[int]]:
    """``LOWER`` and ``ORTH`` hashes of the doc's non-space tokens, and their token indices."""
    import numpy as np
    from spacy.attrs import IS_SPACE, LOWER, ORTH

    table = doc.to_array([LOWER, ORTH, IS_SPACE])
    positions = np.flatnonzero(table[:, 2] == 0)
    return table[positions, 0].tolist(), table[positions, 1].tolist(), positions.tolist()

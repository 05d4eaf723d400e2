"""Find the mentions of concepts in a tokenized text: a token trie, longest match first.

Terms are tokenized with the same spaCy tokenizer as the text, and whitespace tokens are skipped on both
sides, so "congestive heart\\nfailure" and "chest   pain" (as dictated notes and the ConText test kit write
them) still match. Synonyms match on the lower-case form, abbreviations only as written ("MI", not "mi").
A user's terms win over packaged concepts they overlap (the user asked about them); otherwise the longest
match wins, then the earliest.
"""

from __future__ import annotations

from dataclasses import dataclass

from nlp.clinical.lexicon import Term

_END = ""  # the key under which a trie node stores the term that ends there


@dataclass(frozen=True)
class Mention:
    """A mention: token ``[start, end)`` in the doc, and the term it names."""

    start: int
    end: int
    term: Term
    user: bool = False


class TermTrie:
    """Token sequences -> terms, in two tries: lower-case synonyms and exact-case abbreviations."""

    def __init__(self, tokenizer, terms, user: bool = False):
        self.user = user
        self.lower: dict = {}
        self.exact: dict = {}
        for term in terms:
            for phrase in term.phrases():
                self._add(self.lower, [t.lower_ for t in tokenizer(phrase) if not t.is_space], term)
            for phrase in term.abbreviations:
                self._add(self.exact, [t.text for t in tokenizer(phrase) if not t.is_space], term)

    @staticmethod
    def _add(root: dict, tokens: list[str], term: Term) -> None:
        if not tokens:
            return
        node = root
        for token in tokens:
            node = node.setdefault(token, {})
        node.setdefault(_END, term)  # the first concept to claim a phrase keeps it

    def find(self, lower: list[str], exact: list[str], positions: list[int]) -> list[Mention]:
        """Every longest match starting at each token (overlaps are resolved by :func:`resolve`)."""
        found = []
        count = len(lower)
        for root, forms in ((self.lower, lower), (self.exact, exact)):
            if not root:
                continue
            for i in range(count):
                node = root.get(forms[i])
                if node is None:
                    continue
                best = None
                j = i
                while True:
                    if _END in node:
                        best = (j, node[_END])
                    j += 1
                    if j >= count:
                        break
                    node = node.get(forms[j])
                    if node is None:
                        break
                if best is not None:
                    found.append(Mention(positions[i], positions[best[0]] + 1, best[1], self.user))
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


def token_forms(doc) -> tuple[list[str], list[str], list[int]]:
    """Lower-case and exact forms of the doc's non-space tokens, and their token indices."""
    lower, exact, positions = [], [], []
    for token in doc:
        if not token.is_space:
            lower.append(token.lower_)
            exact.append(token.text)
            positions.append(token.i)
    return lower, exact, positions

"""ConText assertions: is a mention negated, historical, hypothetical, about a family member, uncertain?

The algorithm is medspaCy's ConText (Harkema et al., 2009): trigger phrases ("no", "history of", "mother",
"if", "possible") open a scope forward or backward to the end of their sentence; a terminating phrase
("but", "presents with") or another trigger of the same kind ends it; pseudo-triggers ("no change",
"not only", "history of present illness") modify nothing and hide the shorter triggers inside them.
medspaCy's own classes do the work (``ConTextRule``, ``ConTextModifier``, ``ConTextGraph``); this module
finds the triggers itself (:class:`TriggerMatcher`; medspaCy's ``MedspacyMatcher`` prunes overlapping matches
in quadratic time, and spaCy's ``Matcher`` with whitespace allowed between tokens made the whole analysis 4x
slower: 7.8k against 33k words/s on 400 MTSamples notes), feeds ConText one sentence at a time, and adds:

- Scopes end at sentence and section boundaries: a sentence never runs across a heading, and a heading's
  own words ("PAST MEDICAL HISTORY:", "FAMILY HISTORY:") are not triggers; neither are a target's own words.
- The section is context: a mention under "Family history" is family, under "Past medical history" or
  "Social history" historical, as medspaCy's sectionizer sets them, and under "Allergies" historical, as the
  ConText kit's guideline has it (the ``context`` table of ``sections.json``); but not historical after a trigger
  that speaks of the present visit in its sentence ("presents with": :func:`_present_reach`).
- Triggers match across runs of whitespace and line breaks ("no  evidence\\nof"), as the concepts do.
- A trigger inside brackets reaches forward no further than their closing bracket, and ends no scope past it:
  "(slides not submitted) indicates HAIRY CELL LEUKEMIA" and "{Not Entered} History: X" leave what follows
  affirmed, while "Pneumonia (not seen)" (backward) and "denies pain (chest or back)" (from outside) still negate.

The rules are ``nlp/clinical/data/context_rules.json``: medspaCy's packaged English rules plus the additions
listed there. Running each sentence on its own keeps ConText's pairwise steps (every modifier against every
other, and against every target) inside one sentence, and sentences are cut at
:data:`MAX_SENTENCE_TOKENS`, so a hostile document costs time in proportion to its length.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass

import numpy as np

CATEGORY_ATTRIBUTES = {
    "NEGATED_EXISTENCE": "negated",
    "POSSIBLE_EXISTENCE": "uncertain",
    "HISTORICAL": "historical",
    "HISTORICAL_PRESENTING": "historical",
    "HYPOTHETICAL": "hypothetical",
    "FAMILY": "family",
}
ATTRIBUTES = ("negated", "historical", "hypothetical", "family", "uncertain")
MAX_SENTENCE_TOKENS = 300
_SPACE = {"IS_SPACE": True, "OP": "*"}


@dataclass
class Assertion:
    """The assertion flags of one mention, and the trigger phrases that set them (token spans)."""

    negated: bool = False
    historical: bool = False
    hypothetical: bool = False
    family: bool = False
    uncertain: bool = False

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in ATTRIBUTES}


def _quiet_pyrush() -> None:
    # medspaCy imports PyRuSH, which logs thousands of DEBUG lines through loguru.
    try:
        from loguru import logger

        logger.disable("PyRuSH")
    except ImportError:  # pragma: no cover - loguru comes with PyRuSH
        pass


def whitespace_tolerant(pattern: list[dict]) -> list[dict]:
    """A token pattern that allows whitespace tokens between its tokens."""
    spaced = []
    for element in pattern:
        if spaced:
            spaced.append(dict(_SPACE))
        spaced.append(element)
    return spaced


MAX_EXPANSIONS = 20_000
MAX_REPEATS = 3  # a "*" or "+" element of a pattern stands for at most this many tokens when expanded


def expand_pattern(pattern: list[dict]) -> list[tuple[str, ...]] | None:
    """Every lower-case token sequence a pattern of plain words matches (``LOWER``/``ORTH`` values or
    ``IN`` lists, optional or repeated), or None when it has other conditions (``LIKE_NUM``, ``REGEX``)."""
    import itertools

    choices = []
    for element in pattern:
        operator = element.get("OP", "1")
        keys = set(element) - {"OP"}
        if len(keys) != 1 or not keys <= {"LOWER", "ORTH", "TEXT"}:
            return None
        value = element[keys.pop()]
        if isinstance(value, str):
            words = [value.lower()]
        elif isinstance(value, dict) and set(value) == {"IN"}:
            words = [w.lower() for w in value["IN"]]
        else:
            return None
        counts = {"1": [1], "?": [0, 1], "*": range(MAX_REPEATS + 1), "+": range(1, MAX_REPEATS + 1)}.get(operator)
        if counts is None:
            return None
        choices.append([run for n in counts for run in itertools.product(words, repeat=n)])
    total = 1
    for options in choices:
        total *= len(options)
    if total > MAX_EXPANSIONS:
        return None
    return [tuple(word for run in combination for word in run) for combination in itertools.product(*choices)]


class TriggerMatcher:
    """Finds ConText triggers: literal rules through a token trie over the non-space tokens (medspaCy's
    ``PhraseMatcher`` on ``LOWER``, but across whitespace and about ten times faster than spaCy's ``Matcher``
    with whitespace wildcards), pattern rules through spaCy's ``Matcher`` with whitespace allowed between
    tokens. Overlapping matches keep the longest, as medspaCy's ``prune`` does."""

    def __init__(self, nlp, rules: list):
        from spacy.matcher import Matcher

        from nlp.clinical.concepts import add_phrase

        self.literals: dict = {}
        self.matcher = Matcher(nlp.vocab)
        self.patterned = {}
        strings = nlp.vocab.strings
        # Where two rules spell the same phrase the first keeps it, except that a rule setting a second category
        # claims its phrase before all others: "no history of" (negated, and historical) is not one of the
        # phrases the pattern of medspaCy's "no cause of" spells out.
        ordered = sorted(range(len(rules)), key=lambda i: not _also(rules[i]))
        for index in ordered:
            rule = rules[index]
            if rule.pattern is None:
                words = [strings.add(t.lower_) for t in nlp.tokenizer(rule.literal) if not t.is_space]
                add_phrase(self.literals, words, rule)
            elif isinstance(rule.pattern, list) and (phrases := expand_pattern(rule.pattern)) is not None:
                for phrase in phrases:
                    add_phrase(self.literals, [strings.add(word) for word in phrase], rule)
            elif isinstance(rule.pattern, list):
                key = f"clinnlp_context_{index}"
                self.matcher.add(key, [whitespace_tolerant(rule.pattern)])
                self.patterned[strings.add(key)] = rule
            else:
                raise ValueError(f"ConText rule {rule.literal!r}: regular-expression patterns are not supported")

    def __call__(self, doc, lower: tuple[list[int], list[int]] | None = None,
                 skip: list[tuple[int, int]] = ()) -> list[tuple[object, int, int]]:
        """``(rule, start, end)`` of each trigger, in order; matches that touch a ``skip`` token span (a
        heading) are dropped before overlaps are resolved, so "ASSESSMENT: no" keeps its "no"."""
        from nlp.clinical.concepts import token_forms, trie_matches

        if lower is None:
            forms, _, positions = token_forms(doc)
        else:
            forms, positions = lower
        found = [(start, end, rule) for start, end, rule in trie_matches(self.literals, forms, positions)]
        found.extend((start, end, self.patterned[match_id]) for match_id, start, end in self.matcher(doc))
        if skip:
            starts = [start for start, _ in skip]
            found = [m for m in found if not _overlaps_any(m[0], m[1], skip, starts)]
        return [(rule, start, end) for start, end, rule in longest_matches(found, len(doc))]


class ContextEngine:
    """medspaCy ConText over the sentences of a spaCy Doc.

    Args:
        vocab_nlp: The spaCy pipeline whose vocabulary and tokenizer the docs come from.
        rules: ConText rule dicts; default: the packaged rules.
        section_context: Section category -> assertion flags it sets (default: from ``sections.json``).
    """

    def __init__(self, vocab_nlp, rules: list[dict] | None = None, section_context: dict | None = None):
        _quiet_pyrush()
        logging.getLogger("PyRuSH").setLevel(logging.WARNING)
        from medspacy.context import ConTextRule

        from nlp.clinical.lexicon import context_rule_dicts
        from nlp.clinical.sections import section_rules

        self.rules = [_rule(ConTextRule, rule) for rule in (rules if rules is not None else context_rule_dicts())]
        self.triggers = TriggerMatcher(vocab_nlp, self.rules)
        self.section_context = section_context if section_context is not None else section_rules().get("context", {})

    def assert_mentions(self, doc, spans: list, sentence_starts: list[int], headings: list[tuple[int, int]],
                        sections: list[str | None],
                        lower: tuple[list[int], list[int]] | None = None) -> list[Assertion]:
        """Assertions for ``spans`` (spaCy Spans of ``doc``, in order).

        Args:
            sentence_starts: Token index of each sentence's start, ascending (the first is 0).
            headings: Token ``[start, end)`` of each section heading; triggers inside them are ignored.
            sections: The section category of each span (or None).
            lower: ``LOWER`` hashes of the doc's non-space tokens and their token indices, when the caller
                has them already (:func:`nlp.clinical.concepts.token_forms`).
        """
        from medspacy.context import ConTextGraph

        assertions = [Assertion() for _ in spans]
        if not spans:
            return assertions
        ends = sentence_starts[1:] + [len(doc)]
        by_sentence: dict[int, list[int]] = {}
        for index, span in enumerate(spans):
            by_sentence.setdefault(bisect.bisect_right(sentence_starts, span.start) - 1, []).append(index)
        modifiers: dict[int, list] = {}
        # A trigger may not overlap a heading or a target: "no acute" must not swallow the "acute" of "acute
        # distress" (the shorter "no" then modifies it), and "without" inside a user's phrase is part of it.
        skip = _union(sorted([*headings, *((span.start, span.end) for span in spans)]))
        brackets = Brackets(doc)
        for rule, start, end in self.triggers(doc, lower, skip):
            sentence = bisect.bisect_right(sentence_starts, start) - 1
            if sentence not in by_sentence:
                continue
            limit = brackets.closing_after(start, end, sentence_starts[sentence], ends[sentence])
            modifiers.setdefault(sentence, []).append((rule, start, min(end, ends[sentence]), limit))
        for sentence, indices in by_sentence.items():
            found = modifiers.get(sentence)
            if not found:
                continue
            bounds = (sentence_starts[sentence], ends[sentence])
            targets = [spans[i] for i in indices]
            for group, members in _by_visible_triggers(found, targets).items():
                graph = ConTextGraph(targets=[targets[m] for m in members],
                                     modifiers=[_modifier(*found[g][:3], *bounds, closing=found[g][3]) for g in group])
                graph.update_scopes()
                graph.apply_modifiers()
                position = {id(targets[m]): indices[m] for m in members}
                for target, modifier in graph.edges:
                    # A trigger that says two things ("no history of": negated, and about the past) names the
                    # second category in its metadata: the longer trigger hides the shorter one inside it.
                    for category in (modifier.category, *_also(modifier.rule)):
                        attribute = CATEGORY_ATTRIBUTES.get(category)
                        if attribute:
                            setattr(assertions[position[id(target)]], attribute, True)
        present = {sentence: _present_reach(found) for sentence, found in modifiers.items()}
        for index, (assertion, section) in enumerate(zip(assertions, sections)):
            context = self.section_context.get(section, {})
            if not context:
                continue
            start = spans[index].start
            reach = present.get(bisect.bisect_right(sentence_starts, start) - 1)
            for attribute, value in context.items():
                if value and not (attribute == "historical" and reach and reach[0] <= start < reach[1]):
                    setattr(assertion, attribute, True)
        return assertions


MAX_GRAPHS_PER_SENTENCE = 4


def _by_visible_triggers(triggers: list[tuple], targets: list) -> dict[tuple[int, ...], list[int]]:
    """Indices of ``targets`` grouped by the triggers that can see them, each group to run in a ConText graph of its
    own: a trigger in brackets sees nothing past its closing bracket, and must not end the scope of a trigger
    outside them that does ("-ve for bleeding (occult nor overt), ANEMIA"). Where no trigger is in brackets (almost
    every sentence) there is one group: every trigger, every target. Past :data:`MAX_GRAPHS_PER_SENTENCE` groups
    (a sentence crafted with many brackets) it is one graph again, each trigger's scope still ending at its bracket:
    the time stays that of one graph."""
    everyone = tuple(range(len(triggers)))
    if all(limit is None for *_, limit in triggers):
        return {everyone: list(range(len(targets)))}
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, target in enumerate(targets):
        visible = tuple(i for i, (*_, limit) in enumerate(triggers) if limit is None or target.end <= limit)
        groups.setdefault(visible, []).append(index)
    groups.pop((), None)
    if len(groups) > MAX_GRAPHS_PER_SENTENCE:
        return {everyone: list(range(len(targets)))}
    return groups


class Brackets:
    """Where the brackets of a doc ("()", "[]", "{}") open and close, to end a trigger's forward reach at the one
    that closes around it ("(slides not submitted)", "{Not Entered}")."""

    PAIRS = (("(", ")"), ("[", "]"), ("{", "}"))

    def __init__(self, doc):
        from spacy.attrs import ORTH

        forms = doc.to_array(ORTH) if len(doc) else np.zeros(0, dtype=np.uint64)
        self.pairs = []
        for opening, closing in self.PAIRS:
            opens = np.flatnonzero(forms == doc.vocab.strings[opening]).tolist()
            if opens:
                self.pairs.append((opens, np.flatnonzero(forms == doc.vocab.strings[closing]).tolist()))

    def closing_after(self, start: int, end: int, sentence_start: int, sentence_end: int) -> int | None:
        """The token index of the innermost bracket, within the sentence, that closes around a trigger at
        ``[start, end)``; None when the trigger is not in brackets (or in brackets nested of one kind)."""
        found = None
        for opens, closes in self.pairs:
            closing = _closing(opens, closes, start, end, sentence_start, sentence_end)
            if closing is not None and (found is None or closing < found):
                found = closing
        return found


def _closing(opens: list[int], closes: list[int], start: int, end: int, sentence_start: int,
             sentence_end: int) -> int | None:
    """The closing bracket of the one pair (``opens``/``closes``: their token indices) around ``[start, end)``
    within the sentence; None when there is none, or they nest."""
    before = bisect.bisect_left(opens, start) - 1
    if before < 0 or opens[before] < sentence_start:
        return None
    opened = opens[before]
    closed_before = bisect.bisect_left(closes, start) - 1
    if closed_before >= 0 and closes[closed_before] > opened:  # "( ... ) no": already closed
        return None
    after = bisect.bisect_left(closes, end)
    if after == len(closes) or closes[after] >= sentence_end:
        return None
    closing = closes[after]
    next_open = bisect.bisect_left(opens, end)
    if next_open < len(opens) and opens[next_open] < closing:  # nested: keep it simple
        return None
    return closing


def _present_reach(triggers) -> tuple[int, float] | None:
    """Where the first trigger of a sentence that speaks of the present visit ("presents with", "presenting today
    with": rule metadata ``"present": true``) reaches: from its end to its closing bracket (if it is inside brackets)
    or the sentence's end; None without one. Such a sentence is the presenting story even inside a historical section
    ("Allergies: NKDA. Patient presents today with FEVER", a paragraph with no heading of its own between the two),
    so the section does not make what it reaches historical; a trigger of the sentence still can ("presents with a
    history of STROKE")."""
    found = [(end, limit if limit is not None else float("inf")) for rule, _, end, limit in triggers
             if (rule.metadata or {}).get("present")]
    return min(found) if found else None


def _also(rule) -> list[str]:
    """The further categories a rule sets (its metadata's ``also``), besides its own."""
    return list((rule.metadata or {}).get("also", []))


def longest_matches(matches: list[tuple[int, int, object]], length: int) -> list[tuple[int, int, object]]:
    """Of overlapping ``(start, end, payload)`` matches keep the longest (then the earliest), in text order."""
    taken = bytearray(length + 1)
    kept = []
    for match in sorted(matches, key=lambda m: (m[0] - m[1], m[0])):
        start, end, _ = match
        if not any(taken[start:end]):
            taken[start:end] = b"\x01" * (end - start)
            kept.append(match)
    return sorted(kept, key=lambda m: (m[0], m[1]))


def _rule(rule_class, rule: dict):
    """A ConTextRule from its JSON dict (``ConTextRule.from_dict`` refuses ``terminated_by``)."""
    fields = dict(rule)
    if "terminated_by" in fields:
        fields["terminated_by"] = set(fields["terminated_by"])
    return rule_class(**fields)


def _union(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted spans merged where they overlap."""
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _overlaps_any(start: int, end: int, spans: list[tuple[int, int]], starts: list[int]) -> bool:
    """Whether token span ``[start, end)`` overlaps one of ``spans`` (sorted, not overlapping each other)."""
    index = bisect.bisect_left(starts, end) - 1  # the last span that starts before ``end``
    return index >= 0 and spans[index][1] > start


def _modifier(rule, start: int, end: int, sentence_start: int, sentence_end: int, closing: int | None = None):
    """A ConTextModifier whose scope is cut to its sentence by the rule's direction and ``max_scope``
    (what medspaCy computes from ``Token.sent``, without walking the doc for each modifier), and forward at
    ``closing`` (the bracket that closes around the trigger)."""
    from medspacy.context import ConTextModifier

    if closing is not None:
        sentence_end = min(sentence_end, closing)
    direction = rule.direction.lower()
    limit = rule.max_scope
    if direction == "forward":
        scope = (end, sentence_end if limit is None else min(sentence_end, end + limit))
    elif direction == "backward":
        scope = (sentence_start if limit is None else max(sentence_start, start - limit), start)
    else:
        scope = (sentence_start if limit is None else max(sentence_start, start - limit),
                 sentence_end if limit is None else min(sentence_end, end + limit))
    return ConTextModifier(rule, start, end, None, scope_start=scope[0], scope_end=scope[1])

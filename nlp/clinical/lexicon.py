"""The packaged term and rule files of clinical analysis, and the user's own terms.

Files in ``nlp/clinical/data/`` (loaded with :mod:`importlib.resources`, versioned inside each file or its
manifest):

- ``concepts.jsonl``: one concept a line, ``{"concept", "category", "synonyms": [...], "abbreviations":
  [...]}``; synonyms match in any case, abbreviations only as written ("MI", "PE"). Rebuilt by ``make
  lexicon`` (:mod:`nlp.clinical.lexicon_build`); ``lexicon.json`` says what it holds.
- ``context_rules.json``: ConText rules in medspaCy's ``ConTextRule`` JSON format.
- ``sections.json``: section headings (:mod:`nlp.clinical.sections`), and which sections set an assertion.

User terms (``clinnlp analyze --terms FILE`` and a record's ``"terms"`` field) are :class:`Term` objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

CATEGORIES = ("problem", "finding", "medication", "procedure", "anatomy", "term")
USER_CATEGORY = "term"  # the category of a user's term given without one
MAX_TERM_CHARACTERS = 200
MAX_RECORD_TERMS = 100


@dataclass(frozen=True)
class Term:
    """A concept to look for: its normalized name, category, and the phrases that name it.

    Attributes:
        concept: The normalized name reported for every match.
        category: One of :data:`CATEGORIES`.
        synonyms: Phrases matched in any case (the name itself is always one).
        abbreviations: Phrases matched only exactly as written.
    """

    concept: str
    category: str = USER_CATEGORY
    synonyms: tuple[str, ...] = field(default_factory=tuple)
    abbreviations: tuple[str, ...] = field(default_factory=tuple)

    def phrases(self) -> list[str]:
        return list(dict.fromkeys([self.concept, *self.synonyms]))


def _data_text(name: str) -> str:
    return resources.files("nlp.clinical").joinpath("data", name).read_text(encoding="utf-8")


@cache
def packaged_terms() -> tuple[Term, ...]:
    """The packaged concept lexicon."""
    terms = []
    for line in _data_text("concepts.jsonl").splitlines():
        if line.strip():
            record = json.loads(line)
            terms.append(Term(record["concept"], record["category"], tuple(record.get("synonyms", ())),
                              tuple(record.get("abbreviations", ()))))
    return tuple(terms)


@cache
def lexicon_manifest() -> dict:
    """Version and counts of the packaged lexicon."""
    return json.loads(_data_text("lexicon.json"))


@cache
def context_rule_dicts() -> tuple[dict, ...]:
    """The packaged ConText rules as dicts (medspaCy ``ConTextRule.from_dict`` input); of their metadata only what
    :mod:`nlp.clinical.context` reads is kept (``also``: further categories a trigger sets; ``present``: a trigger
    of the present visit), not provenance."""
    rules = json.loads(_data_text("context_rules.json"))["context_rules"]
    dicts = []
    for rule in rules:
        fields = {key: value for key, value in rule.items() if key != "metadata"}
        kept = {key: value for key, value in rule.get("metadata", {}).items() if key in ("also", "present") and value}
        if kept:
            fields["metadata"] = kept
        dicts.append(fields)
    return tuple(dicts)


def term_from_value(value, where: str) -> Term:
    """A :class:`Term` from a string or a ``{"concept", "category", "synonyms", "abbreviations"}`` object.

    Raises:
        ValueError: Not a usable term; ``where`` says where it came from (never the text of a document).
    """
    if isinstance(value, str):
        value = {"concept": value}
    if not isinstance(value, dict):
        raise ValueError(f"{where}: a term must be a string or an object with 'concept'")
    unknown = set(value) - {"concept", "category", "synonyms", "abbreviations"}
    if unknown:
        raise ValueError(f"{where}: unknown term field(s) {', '.join(sorted(map(repr, unknown)))}")
    concept = value.get("concept")
    category = value.get("category", USER_CATEGORY)
    synonyms = value.get("synonyms", [])
    abbreviations = value.get("abbreviations", [])
    phrases = [concept, *synonyms, *abbreviations] if isinstance(synonyms, list) and isinstance(abbreviations, list) \
        else [None]
    if not all(isinstance(p, str) and p.strip() for p in phrases):
        raise ValueError(f"{where}: 'concept', 'synonyms' and 'abbreviations' must be non-empty strings")
    if any(len(p) > MAX_TERM_CHARACTERS for p in phrases):
        raise ValueError(f"{where}: a term is longer than {MAX_TERM_CHARACTERS} characters")
    if category not in CATEGORIES:
        raise ValueError(f"{where}: category must be one of {', '.join(CATEGORIES)}")
    return Term(" ".join(concept.split()), category, tuple(synonyms), tuple(abbreviations))


def record_terms(values, where: str = "terms") -> tuple[Term, ...]:
    """The ``"terms"`` of one input record: a list of strings or term objects (at most 100)."""
    if values is None:
        return ()
    if not isinstance(values, list):
        raise ValueError(f"{where}: must be a list of terms")
    if len(values) > MAX_RECORD_TERMS:
        raise ValueError(f"{where}: at most {MAX_RECORD_TERMS} terms per record")
    return tuple(term_from_value(value, f"{where}[{i}]") for i, value in enumerate(values))


def read_terms_file(path: str | Path) -> tuple[Term, ...]:
    """Terms from a file: ``.jsonl`` (one string or term object a line), ``.json`` (a list of them), or
    plain text (one term a line; ``#`` starts a comment line).

    Raises:
        ValueError: Unreadable file or a bad term; the message names the file and line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: cannot read terms ({type(error).__name__})") from None
    if path.suffix.lower() == ".json":
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not JSON (line {error.lineno})") from None
        if not isinstance(values, list):
            raise ValueError(f"{path}: expected a JSON list of terms")
        return tuple(term_from_value(value, f"{path}[{i}]") for i, value in enumerate(values))
    terms = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                raise ValueError(f"{path}:{number}: not a JSON value") from None
        else:
            value = line.strip()
        terms.append(term_from_value(value, f"{path}:{number}"))
    return tuple(terms)

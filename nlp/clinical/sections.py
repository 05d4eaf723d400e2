"""Sections of clinical notes, discharge summaries and radiology reports: the one section finder.

The summarizer (through :class:`nlp.segmentation.Segmenter`), ``clinnlp summarize --sections`` and clinical
analysis all use :func:`find_sections`. Headings come from ``nlp/clinical/data/sections.json`` (category ->
heading names, matched case-insensitively), and a heading is recognized in three places:

1. at the start of a line, followed by a colon, in any case ("Assessment:", "FAMILY HISTORY:");
2. alone on its line in capitals, without a colon ("PLAN", "HISTORY OF PRESENT ILLNESS");
3. in capitals followed by a colon anywhere else after whitespace ("... stable.  PLAN: rest"), as dictated
   notes and report headers run their sections together; headings listed in ``line_start_only`` ("HABITS")
   are too common after another word ("BOWEL HABITS:") to be taken there.

A heading in lower case inside a sentence ("we discussed the plan: rest") is never one. Body-system
sub-headings of an exam or a review of systems ("LUNGS:", "HEENT:") are not in the rules on purpose: they
would cut the physical exam into pieces that are no longer "physical exam".

medspaCy's sectionizer was measured as the alternative (``benchmarks/clinical_assertions.py --sections``);
see ``docs/benchmarks.md``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Section:
    """A section: its category, its heading text, and the ``[start, end)`` offsets of heading and body."""

    category: str
    title: str
    start: int
    end: int

    def as_dict(self) -> dict:
        return {"name": self.category, "title": self.title, "start": self.start, "end": self.end}


@cache
def section_rules() -> dict:
    """The heading rules: ``headings`` by category, ``aliases`` and ``includes``."""
    text = resources.files("nlp.clinical").joinpath("data", "sections.json").read_text(encoding="utf-8")
    return json.loads(text)


def section_names() -> list[str]:
    """Every section category, sorted."""
    return sorted(section_rules()["headings"])


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
def _heading_patterns() -> tuple[tuple[re.Pattern, ...], dict[str, str]]:
    rules = section_rules()
    headings = rules["headings"]
    category_of = {h.lower(): category for category, names in headings.items() for h in names}
    names = sorted(category_of, key=len, reverse=True)  # longest first: "assessment and plan" before "assessment"
    any_case = "|".join(re.escape(n) for n in names)
    capitals = "|".join(re.escape(n.upper()) for n in names)
    line_start_only = {n.lower() for n in rules.get("line_start_only", [])}
    inline = "|".join(re.escape(n.upper()) for n in names if n not in line_start_only)
    patterns = (
        re.compile(rf"(?im)^[ \t]*(?P<title>{any_case})[ \t]*:"),
        re.compile(rf"(?m)^[ \t]*(?P<title>{capitals})[ \t]*$"),
        # Inside a line, in capitals, after whitespace (dictated notes and report headers run on).
        re.compile(rf"(?<=[ \t])(?P<title>{inline})[ \t]*:"),
    )
    return patterns, category_of


def find_sections(text: str) -> list[Section]:
    """Sections of ``text`` in order; each runs from its heading to the next heading (or the end), or, for the
    categories in ``sections.json``'s ``end_at_unlisted_heading``, to a paragraph that opens with a heading in
    capitals the rules do not list, if one comes first."""
    patterns, category_of = _heading_patterns()
    matches = sorted((m for pattern in patterns for m in pattern.finditer(text)),
                     key=lambda m: (m.start("title"), -len(m.group("title"))))
    found, covered = [], 0
    for match in matches:  # "HISTORY:" inside "MEDICAL HISTORY:" is not a heading of its own
        if match.start("title") >= covered:
            found.append(match)
            covered = match.end("title")
    sections = [Section(category_of[m.group("title").lower()], m.group("title"), m.start("title"),
                        found[i + 1].start("title") if i + 1 < len(found) else len(text))
                for i, m in enumerate(found)]
    short = set(section_rules().get("end_at_unlisted_heading", []))
    return [_end_at_unlisted_heading(text, s) if s.category in short else s for s in sections]


# A heading the rules do not list, in capitals at the start of a paragraph ("DIET:", "LABORATORY AT PRESENTATION:").
# It is not a section of its own: sub-headings such as "LUNGS:", "CARDIAC:" or "MOTHER:" must not cut a physical
# exam, a past history or a family history. It ends the few sections that have no sub-headings (an allergy list).
_UNLISTED_HEADING = re.compile(r"\r?\n[ \t\r]*\n[ \t]*[A-Z][A-Z /&,'()-]{0,60}:")


def _end_at_unlisted_heading(text: str, section: Section) -> Section:
    body = heading_end(text, section) + 1
    while body < section.end and text[body].isspace():  # a blank line right after the heading opens its body
        body += 1
    found = _UNLISTED_HEADING.search(text, body, section.end)
    return replace(section, end=found.start()) if found else section


def heading_end(text: str, section: Section) -> int:
    """The last character of a section's heading: its colon when it has one, else the heading's last letter."""
    end = section.start + len(section.title)
    while end < len(text) and text[end] in " \t":
        end += 1
    return end if end < len(text) and text[end] == ":" else section.start + len(section.title) - 1


def section_at(sections: list[Section], offset: int) -> Section | None:
    """The section that holds character ``offset`` (sections are in order), or None outside every section."""
    low, high = 0, len(sections)
    while low < high:  # the last section that starts at or before offset
        middle = (low + high) // 2
        if sections[middle].start <= offset:
            low = middle + 1
        else:
            high = middle
    return sections[low - 1] if low and offset < sections[low - 1].end else None

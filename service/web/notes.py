"""A note as HTML with the spans that results point at: highlighted marks (the terms behind a label, concepts)
and target regions (summary sentences, sections) that links elsewhere on the page jump to.

The text is cut at every span boundary into segments; each segment is escaped and wrapped in one element that
carries its ``[start, end)`` offsets and what covers it, so overlapping spans (a bigram and a word inside it, a term
inside a summary sentence) need no nesting. Nothing but the note's own characters becomes text, so the element's
``textContent`` is the note, character for character, and every offset in a result is an offset in it.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Mark:
    """A highlighted span: what a tooltip says about it, and which panel entry describes it.

    Attributes:
        kind: The kind of thing (``term``, ``concept``): a CSS class, and a layer a person can switch off.
        ref: The id of the entry in a result panel that this span belongs to (for ``aria-describedby``).
        tip: What hovering or focusing the span shows (label and weight, concept and assertion).
        style: Which of the page's label colours and underline patterns it gets.
        weight: Among overlapping marks, the heaviest decides the look.
        classes: More CSS classes (``negated``).
    """

    start: int
    end: int
    kind: str
    ref: str
    tip: str
    style: int = 0
    weight: float = 0.0
    classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Region:
    """A span that a link elsewhere on the page points at: ``ref`` is the id of its anchor."""

    start: int
    end: int
    ref: str


def _clip(start, end, length: int) -> tuple[int, int] | None:
    if not isinstance(start, int) or not isinstance(end, int):
        return None
    start, end = max(0, start), min(length, end)
    return (start, end) if start < end else None


def render_note(text: str, marks: list[Mark] = (), regions: list[Region] = ()) -> Markup:
    """The note's HTML: segments of escaped text, ``<mark>`` where marks cover them, ``<span>`` where only regions
    do, and an empty focusable anchor (``id`` = the region's ref) where each region starts.

    Spans outside the text are clipped; empty ones are left out.
    """
    length = len(text)
    marks = [(span, m) for m in marks if (span := _clip(m.start, m.end, length))]
    regions = [(span, r) for r in regions if (span := _clip(r.start, r.end, length))]
    cuts = sorted({0, length, *(p for (s, e), _ in marks for p in (s, e)), *(p for (s, e), _ in regions for p in (s, e))})
    starts: dict[int, list[Region]] = {}
    for (start, _), region in regions:
        starts.setdefault(start, []).append(region)
    # A sweep over the cuts: what covers each segment, without comparing every span with every segment.
    mark_events = sorted(marks, key=lambda item: item[0][0])
    region_events = sorted(regions, key=lambda item: item[0][0])
    active_marks: list[tuple[tuple[int, int], Mark]] = []
    active_regions: list[tuple[tuple[int, int], Region]] = []
    next_mark = next_region = 0
    out: list[str] = []
    for start, end in zip(cuts, cuts[1:]):
        while next_mark < len(mark_events) and mark_events[next_mark][0][0] <= start:
            active_marks.append(mark_events[next_mark])
            next_mark += 1
        while next_region < len(region_events) and region_events[next_region][0][0] <= start:
            active_regions.append(region_events[next_region])
            next_region += 1
        active_marks = [item for item in active_marks if item[0][1] > start]
        active_regions = [item for item in active_regions if item[0][1] > start]
        for region in starts.get(start, ()):
            out.append(f'<span class="anchor" id="{escape(region.ref)}" tabindex="-1" '
                       f'data-start="{region.start}" data-end="{region.end}"></span>')
        out.append(_segment(text[start:end], start, end, [m for _, m in active_marks], [r for _, r in active_regions]))
    return Markup("".join(out))


def _segment(piece: str, start: int, end: int, marks: list[Mark], regions: list[Region]) -> str:
    body = escape(piece)
    if not marks and not regions:
        return str(body)
    attributes = [f'data-start="{start}" data-end="{end}"']
    if regions:
        attributes.append(f'data-regions="{escape(" ".join(r.ref for r in regions))}"')
    if not marks:
        return f'<span class="in-region" {" ".join(attributes)}>{body}</span>'
    top = max(marks, key=lambda m: (m.weight, -m.start))
    kinds = sorted({m.kind for m in marks})
    classes = ["hl", *kinds, f"s{top.style}", *dict.fromkeys(c for m in marks for c in m.classes)]
    refs = " ".join(dict.fromkeys(m.ref for m in marks))
    tip = " | ".join(dict.fromkeys(m.tip for m in sorted(marks, key=lambda m: -m.weight)))
    attributes += [f'data-refs="{escape(refs)}"', f'data-tip="{escape(tip)}"', f'aria-describedby="{escape(refs)}"',
                   'tabindex="0"']
    return f'<mark class="{escape(" ".join(classes))}" {" ".join(attributes)}>{body}</mark>'

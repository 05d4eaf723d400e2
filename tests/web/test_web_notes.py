"""The note view: escaped text cut at every span, offsets that are offsets in the note, overlaps without nesting."""

import csv
import io
import json
from html.parser import HTMLParser

from service.web.downloads import results_csv
from service.web.notes import Mark, Region, render_note


class Elements(HTMLParser):
    """The text of a rendered note, and every element with its attributes and the text inside it."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text, self.elements, self.open = "", [], []

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": "", "at": len(self.text)}
        self.elements.append(element)
        self.open.append(element)

    def handle_endtag(self, tag):
        self.open.pop()

    def handle_data(self, data):
        self.text += data
        for element in self.open:
            element["text"] += data


def parse(html: str) -> Elements:
    parser = Elements()
    parser.feed(str(html))
    parser.close()
    return parser


def test_web_notes_text_is_the_note_and_every_segment_knows_its_offsets():
    text = "Chest pain radiating to the left arm.\nTroponin elevated; chest pain resolved."
    second = text.index("chest pain")
    marks = [Mark(0, 10, "term", "t0", "C14: chest pain", 0, 0.5),
             Mark(second, second + 10, "term", "t0", "C14: chest pain", 0, 0.5),
             Mark(6, 10, "term", "t1", "C23: pain", 1, 0.2)]
    regions = [Region(0, 37, "s0"), Region(38, len(text), "s1")]
    parsed = parse(render_note(text, marks, regions))
    assert parsed.text == text
    for element in parsed.elements:
        attrs = element["attrs"]
        if "data-start" in attrs and attrs.get("class") != "anchor":
            start, end = int(attrs["data-start"]), int(attrs["data-end"])
            assert element["at"] == start and text[start:end] == element["text"]
    marked = [e for e in parsed.elements if e["tag"] == "mark"]
    assert [e["text"] for e in marked] == ["Chest ", "pain", "chest pain"]
    # The overlap "pain" shows both terms, the heavier first, and takes the heavier one's style.
    assert marked[1]["attrs"]["data-tip"] == "C14: chest pain | C23: pain"
    assert "s0" in marked[1]["attrs"]["class"].split() and marked[1]["attrs"]["data-refs"] == "t0 t1"
    anchors = [e for e in parsed.elements if e["attrs"].get("class") == "anchor"]
    assert [(a["attrs"]["id"], a["at"], a["text"]) for a in anchors] == [("s0", 0, ""), ("s1", 38, "")]
    in_second = "".join(e["text"] for e in parsed.elements if "s1" in e["attrs"].get("data-regions", "").split())
    assert in_second == text[38:]


def test_web_notes_escape_hostile_text_and_attributes():
    text = '<script>alert(1)</script> <img src=x onerror="alert(2)"> [x](javascript:alert(3)) & "quotes"'
    html = str(render_note(text, [Mark(0, 8, "term", 'a" onmouseover="alert(4)', '"><img src=x onerror=alert(5)>')]))
    assert "<script" not in html and "<img" not in html and 'onmouseover="' not in html
    parsed = parse(html)
    assert parsed.text == text
    assert [e["tag"] for e in parsed.elements] == ["mark"]
    assert parsed.elements[0]["attrs"]["data-tip"] == '"><img src=x onerror=alert(5)>'


def test_web_notes_clip_spans_outside_the_text_and_ignore_empty_ones():
    text = "short note"
    parsed = parse(render_note(text, [Mark(-5, 5, "term", "a", "a"), Mark(8, 99, "term", "b", "b"),
                                      Mark(3, 3, "term", "c", "c"), Mark(None, 4, "term", "d", "d")],
                               [Region(50, 60, "far")]))
    assert parsed.text == text
    assert [e["text"] for e in parsed.elements if e["tag"] == "mark"] == ["short", "te"]
    assert not [e for e in parsed.elements if e["attrs"].get("id") == "far"]


def test_web_notes_many_spans_render_fast_enough_for_a_long_note():
    text = "word " * 40_000
    marks = [Mark(i * 5, i * 5 + 4, "term", f"t{i % 10}", "tip", i % 5, 0.1) for i in range(0, 40_000, 2)]
    parsed = parse(render_note(text, marks, [Region(0, len(text), "all")]))
    assert parsed.text == text and sum(e["tag"] == "mark" for e in parsed.elements) == 20_000


def test_web_downloads_csv_flattens_results_and_defuses_formulas():
    lines = [{"id": "a", "label": "C14", "labels": ["C14"], "scores": {"C14": 0.9, "C23": -0.1},
              "explanation": [{"label": "C14", "term": "angina", "weight": 0.4, "spans": [[0, 6]]}]},
             {"id": "=HYPERLINK(\"http://x\")", "summary": "+1 then -2", "labels": ["C23", "C01"], "scores": {"C14": 0.1}}]
    data = b"".join((json.dumps(line) + "\n").encode() for line in lines)
    chunks = lambda: iter([data[:17], data[17:60], data[60:]])  # noqa: E731  (lines cut across chunks)
    rows = list(csv.reader(io.StringIO("".join(results_csv(chunks)))))
    assert rows[0] == ["id", "label", "labels", "scores.C14", "scores.C23", "explanation", "summary"]
    assert rows[1][:5] == ["a", "C14", "C14", "0.9", "-0.1"]
    assert json.loads(rows[1][5])[0]["spans"] == [[0, 6]]
    assert rows[2] == ["'=HYPERLINK(\"http://x\")", "", "C23; C01", "0.1", "", "", "'+1 then -2"]

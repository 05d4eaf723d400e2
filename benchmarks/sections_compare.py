"""The project's section finder beside medspaCy's sectionizer (default rules) on the MTSamples notes.

No corpus here has gold section labels, so this measures what can be checked without them: how many notes
get any section, how many headings each finds, how many of the notes' heading lines (a line that is only
capital letters and spaces, optionally ending in a colon, as dictated notes write them) each recognizes, and
the time per note. medspaCy's sectionizer runs on a blank English pipeline with its default rules
(``medspacy_sectionizer``), outside any other component.

    .venv/bin/python benchmarks/sections_compare.py [--limit 500]
"""

from __future__ import annotations

import argparse
import re
import sys
import time

HEADING_LINE = re.compile(r"(?m)^[ \t]*([A-Z][A-Z /&]{2,40}[A-Z])[ \t]*:?[ \t]*$|^[ \t]*([A-Z][A-Z /&]{2,40}[A-Z])[ \t]*:")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int)
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)
    from loguru import logger

    logger.disable("PyRuSH")
    import medspacy  # noqa: F401 (registers the components)
    import spacy

    from corpora import load_corpus
    from nlp.clinical.sections import find_sections

    texts = list(load_corpus("mtsamples", args.data_dir)["train"]["text"])
    texts = texts[:args.limit] if args.limit else texts
    heading_lines = [{m.start(1) if m.group(1) else m.start(2) for m in HEADING_LINE.finditer(t)} for t in texts]

    started = time.perf_counter()
    ours = [find_sections(t) for t in texts]
    ours_seconds = time.perf_counter() - started

    nlp = spacy.blank("en")
    nlp.add_pipe("medspacy_sectionizer")
    nlp.max_length = 10_000_000
    started = time.perf_counter()
    theirs = [[(doc[s.title_start].idx, s.category) for s in doc._.sections if s.title_end > s.title_start]
              for doc in nlp.pipe(texts)]
    theirs_seconds = time.perf_counter() - started

    def row(name, found, seconds):
        starts = [{start for start, _ in f} for f in found]
        covered = sum(len(lines & s) for lines, s in zip(heading_lines, starts))
        print(f"| {name} | {sum(bool(f) for f in found)} / {len(texts)} | {sum(map(len, found))} | "
              f"{covered} / {sum(map(len, heading_lines))} | {1000 * seconds / len(texts):.2f} |")

    print("| section finder | notes with a section | headings found | heading lines recognized | ms per note |")
    print("|---|---|---|---|---|")
    row("clinnlp (nlp/clinical/sections.py)", [[(s.start, s.category) for s in f] for f in ours], ours_seconds)
    row("medspaCy sectionizer (default rules)", theirs, theirs_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What the analysis page costs on top of the API: the same note classified (with explanations) and summarized
through ``POST /v1/classify`` + ``POST /v1/summarize``, and through the page (``POST /analyze``: the same writers,
plus marking every span in the note and rendering the templates), in one process with Flask's test client (no
network, no browser). Also the note view alone on long notes.

    .venv/bin/python benchmarks/web_pages.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def median_ms(function, repeat: int) -> float:
    function()  # warm
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    from service.app import create_app
    from service.registry import Registry
    from service.web.notes import Mark, Region, render_note

    notes = [json.loads(line)["text"] for line in (ROOT / "examples" / "notes.jsonl").read_text().splitlines()]
    registry = Registry.load(("mtsamples-tfidf",), ("lead",))
    app = create_app({"state_dir": tempfile.mkdtemp(), "rate_limit": 0}, registry=registry)
    key = app.extensions["clinnlp"].keys.create("bench")[1]
    api = app.test_client()
    api.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    page = app.test_client()
    form = page.get("/sign-in").get_data(as_text=True)
    page.post("/sign-in", data={"csrf_token": re.search(r'name="csrf_token" value="([^"]*)"', form).group(1),
                                "key": key})
    csrf = re.search(r'name="csrf_token" value="([^"]*)"', page.get("/analyze").get_data(as_text=True)).group(1)

    print(f"{'note':>10} {'API classify+summarize ms':>26} {'page /analyze ms':>17} {'page / API':>10}")
    for size in (1, 4, 16):
        text = "\n\n".join(notes * size)
        body = {"documents": [{"id": "n", "text": text}]}

        def through_api():
            assert api.post("/v1/classify", json={**body, "model": "mtsamples-tfidf"}).status_code == 200
            assert api.post("/v1/summarize", json={**body, "method": "lead"}).status_code == 200

        def through_page():
            answer = page.post("/analyze", data={"csrf_token": csrf, "text": text, "run": ["classify", "summarize"],
                                                 "classify-model": "mtsamples-tfidf", "summarize-method": "lead"})
            assert answer.status_code == 200

        api_ms, page_ms = median_ms(through_api, args.repeat), median_ms(through_page, args.repeat)
        print(f"{len(text):>10,} {api_ms:>26.1f} {page_ms:>17.1f} {page_ms / api_ms:>10.2f}")

    print(f"\n{'note characters':>16} {'marks':>7} {'render_note ms':>15}")
    for words in (20_000, 200_000):
        text = "word " * words
        marks = [Mark(i * 5, i * 5 + 4, "term", f"t{i % 10}", "tip", i % 5, 0.1) for i in range(0, words, 10)]
        regions = [Region(i * 5, i * 5 + 200, f"s{i}") for i in range(0, words, 400)]
        ms = median_ms(lambda: render_note(text, marks, regions), max(3, args.repeat // 4))
        print(f"{len(text):>16,} {len(marks):>7,} {ms:>15.1f}")
    app.extensions["clinnlp"].jobs.stop()


if __name__ == "__main__":
    main()

"""The pages in a real browser: Debian's Chromium, headless, driven by Playwright, against `clinnlp serve`
(gunicorn, two workers sharing the session store) on loopback.

Chromium comes from `scripts/install-browser` (run by `make test` before the network is cut); Playwright's own
browser download is never used. Screenshots of the main pages at 1280 px and 390 px go to
``out/test-screenshots/`` (``CLINNLP_SCREENSHOTS`` to put them elsewhere). Leave these tests out of a quick run
with ``-m 'not browser'``.
"""

from __future__ import annotations

import csv
import http.server
import io
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from tests.test_service_live import free_port, wait_ready

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CLINNLP_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(os.environ.get("CLINNLP_SCREENSHOTS", ROOT / "out" / "test-screenshots"))
# Chromium as the probe of this machine starts it: no sandbox (root), no GPU, and nothing that phones home
# (background networking, component updates, sync, QUIC): the suite runs with the network cut.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--disable-features=Translate,OptimizationHints,MediaRouter"]

NOTE = ("HISTORY OF PRESENT ILLNESS: A 64-year-old man presented with crushing chest pain radiating to the left "
        "arm. Troponin was elevated and the electrocardiogram showed ST elevation.\n"
        "ASSESSMENT: Acute myocardial infarction. Coronary angioplasty with a stent was performed.\n"
        "PLAN: Aspirin, a beta-blocker and a statin. Cardiac rehabilitation. Follow up for angina and chest pain.")
HOSTILE = ('Chest pain. <script>window.__xss = 1</script> <img src=x onerror="window.__xss = 2"> '
           '<a href="javascript:window.__xss = 3">click me</a> [link](javascript:window.__xss=4) '
           '<svg onload="window.__xss = 5"></svg> Coronary angioplasty for angina.')

# The character offset of an element's first character inside the note, counted over the note's text nodes:
# what a reader sees, independent of the data attributes the server wrote.
OFFSET_IN_NOTE = """(element) => {
    const note = element.closest('.note');
    const walker = document.createTreeWalker(note, NodeFilter.SHOW_TEXT);
    let offset = 0, node;
    while ((node = walker.nextNode())) {
        if (element.contains(node) || (element.compareDocumentPosition(node) & Node.DOCUMENT_POSITION_FOLLOWING)) {
            return offset;
        }
        offset += node.data.length;
    }
    return offset;
}"""


def mining_report(root: Path) -> Path:
    """A report as `clinnlp mine` writes it (charts as matplotlib SVG with style attributes), from small tables."""
    from nlp.mining.report import write_report

    (root / "cardiology-2024").mkdir(parents=True)
    tables = {"categories": [{"category": "C14", "name": "Cardiovascular Diseases", "documents": 12},
                             {"category": "C04", "name": "Neoplasms", "documents": 5}],
              "years": [{"year": 2022, "documents": 7}, {"year": 2023, "documents": 10}],
              "topics": [{"topic": 0, "documents": 12, "terms": "angioplasty, stent"}],
              "terms": [{"term": "angioplasty", "documents": 9}, {"term": "stent", "documents": 6}], "rules": []}
    write_report(root / "cardiology-2024" / "report.html", tables, {}, {"documents": 17, "errors": 0})
    (root / "cardiology-2024" / "categories.csv").write_text("category,documents\nC14,12\nC04,5\n")
    return root


def evaluation_plot(folder: Path) -> Path:
    """A confusion matrix and its report, named as `clinnlp evaluate` names them."""
    from nlp.evaluation import save_plot

    folder.mkdir()
    gold = ["C14"] * 6 + ["C04"] * 4 + ["C23"] * 3
    picks = [[0]] * 5 + [[2]] + [[1]] * 3 + [[0]] + [[2]] * 2 + [[0]]
    save_plot(gold, picks, ["C14", "C04", "C23"], False, folder / "ohsumed-tfidf-notes-file.png",
              title="ohsumed-tfidf: 13 held-out notes")
    (folder / "ohsumed-tfidf-notes-file.json").write_text(json.dumps(
        {"model": "ohsumed-tfidf", "scored_on": "notes/file: 13 documents the model was not trained on",
         "accuracy": 0.7692, "macro_f1": 0.7556}))
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`clinnlp serve` with two workers from a fresh folder (its first key in var/first-api-key)."""
    folder = tmp_path_factory.mktemp("web-server")
    reports, evaluations = mining_report(folder / "reports"), evaluation_plot(folder / "evaluate")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINNLP_")}
    env.update(CLINNLP_CLASSIFIERS="ohsumed-tfidf,mtsamples-tfidf", CLINNLP_SUMMARIZERS="extractive,lead",
               CLINNLP_RATE_LIMIT="0", CLINNLP_REPORTS_DIR=str(reports), CLINNLP_EVALUATION_DIR=str(evaluations),
               PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "nlp.cli", "serve", "--port", str(port), "--workers", "2",
                                "--threads", "4"], cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, env=env, start_new_session=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", process, seconds=240)
        yield {"base": f"http://127.0.0.1:{port}", "key": (folder / "var" / "first-api-key").read_text().strip(),
               "state": folder / "var"}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-browser (make test does), or leave the browser "
                    "tests out with -m 'not browser'")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server["base"],
                                  accept_downloads=True)
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(f"page error: {error}"))
    page.on("console", lambda message: page.problems.append(message.text) if message.type == "error" else None)
    yield page
    context.close()


def shoot(page, name: str, part: str | None = None) -> None:
    """A full-page screenshot at the page's width, and at a 390 px phone width (which must not scroll sideways);
    with ``part``, a screenshot of that element too (``<name>-part-<width>.png``)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    width = page.viewport_size["width"]
    for size in (width, 390):
        if size != width:
            page.set_viewport_size({"width": size, "height": 844})
        assert page.evaluate("document.documentElement.scrollWidth") <= size, f"{name} is wider than {size} px"
        if part:
            page.locator(part).first.screenshot(path=str(SHOTS / f"{name}-part-{size}.png"))
        page.screenshot(path=str(SHOTS / f"{name}-{size}.png"), full_page=True)
    page.set_viewport_size({"width": width, "height": 900})


def sign_in(page, key: str) -> None:
    page.goto("/analyze")
    assert page.url.endswith("/sign-in")
    page.get_by_label("API key").fill(key)
    page.get_by_label("API key").press("Enter")  # the keyboard submits the form
    page.wait_for_url("**/analyze")


def nav(page, name: str):
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name)


def api(server, path: str, body: dict) -> dict:
    request = urllib.request.Request(server["base"] + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {server['key']}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_web_browser_sign_in_keeps_nothing_readable_in_the_browser(page, server):
    page.goto("/sign-in")
    shoot(page, "sign-in")
    sign_in(page, server["key"])
    cookies = page.context.cookies()
    [session] = [c for c in cookies if c["name"] == "clinnlp_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and server["key"] not in session["value"]
    assert page.evaluate("document.cookie") == ""  # nothing a script can read
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert nav(page, "Analyze").get_attribute("aria-current") == "page"
    assert not page.problems, page.problems


def test_web_browser_analyze_marks_terms_and_summary_sentences_at_their_characters(page, server):
    sign_in(page, server["key"])
    page.get_by_label("Note text").fill(NOTE)
    page.get_by_label("Classifier").select_option("ohsumed-tfidf")
    page.get_by_label("Most sentences").fill("2")
    page.get_by_role("button", name="Analyze").click()
    page.wait_for_selector(".document")
    classified = api(server, "/v1/classify", {"model": "ohsumed-tfidf", "documents": [{"id": "note", "text": NOTE}]})
    summarized = api(server, "/v1/summarize", {"max_sentences": 2, "documents": [{"id": "note", "text": NOTE}]})
    [result] = classified["results"]
    note = page.locator("#d0-note")
    assert note.evaluate("n => n.textContent") == NOTE  # the note, character for character

    # Every highlighted piece sits at its offsets in the text a reader sees, and together they are the API's spans.
    marks = note.locator("mark.term")
    seen = set()
    for index in range(marks.count()):
        mark = marks.nth(index)
        start, end = int(mark.get_attribute("data-start")), int(mark.get_attribute("data-end"))
        assert mark.evaluate(OFFSET_IN_NOTE) == start and mark.text_content() == NOTE[start:end]
        seen.update(range(start, end))
    expected = {i for item in result["explanation"] for start, end in item["spans"] for i in range(start, end)}
    assert seen == expected and seen

    # Focusing a term (keyboard) or hovering it shows its label and weight, inside the window; Escape hides it.
    top = result["explanation"][0]
    start, end = top["spans"][0]
    first = note.locator(f'mark[data-start="{start}"]')
    tip = page.locator("#tip")
    page.mouse.move(0, 0)
    first.focus()
    assert tip.is_visible() and top["label"] in tip.text_content()
    assert f"{top['term']}, weight {top['weight']:.3f}" in tip.text_content()
    box, mark_box = tip.bounding_box(), first.bounding_box()
    assert 0 <= box["x"] and box["x"] + box["width"] <= 1280 and box["y"] >= mark_box["y"] + mark_box["height"]
    page.keyboard.press("Escape")
    assert tip.is_hidden()
    first.blur()
    first.hover()
    assert tip.is_visible() and top["term"] in tip.text_content()
    page.mouse.move(0, 0)
    assert tip.is_hidden()
    bar = page.locator(".panel-classify svg.bar").first
    assert top["label"] in bar.get_attribute("aria-label")

    # Each summary sentence links to its place: click one, press Enter on another; the marked text is its span.
    sentences = summarized["results"][0]["sentences"]
    links = page.locator(".panel-summarize a.source-link")
    assert links.count() == len(sentences) == 2
    for number, sentence in enumerate(sentences):
        link = links.nth(number)
        assert link.text_content() == sentence["text"]
        if number == 0:
            link.click()
        else:
            link.focus()
            page.keyboard.press("Enter")
        current = note.locator(".current")
        assert "".join(current.all_text_contents()) == NOTE[sentence["start"]:sentence["end"]]
        assert current.first.evaluate(OFFSET_IN_NOTE) == sentence["start"]
        anchor = page.locator(f"#d0-summarize-sentence-{number}")
        assert anchor.evaluate("a => document.activeElement === a")  # focus moved to the place in the note
        assert anchor.evaluate("a => { const r = a.getBoundingClientRect(); const n = a.closest('.note')"
                               ".getBoundingClientRect(); return r.top >= n.top && r.bottom <= n.bottom; }")
    # A term in the labels panel jumps to its first place the same way.
    page.locator(".panel-classify a.source-link").first.click()
    assert "".join(note.locator(".current").all_text_contents()).lower() == NOTE[start:end].lower()
    assert "note" not in page.url and "chest" not in page.url  # nothing of the note in the address
    note.locator("mark.term").nth(2).focus()  # its tooltip shows in the screenshots
    shoot(page, "analyze", ".document")
    assert not page.problems, page.problems


def test_web_browser_hostile_notes_show_as_text_and_run_nothing(page, server):
    sign_in(page, server["key"])
    violations = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text
            else None)
    page.get_by_label("Note text").fill(HOSTILE)
    page.get_by_role("button", name="Analyze").click()
    page.wait_for_selector(".document")
    note = page.locator("#d0-note")
    assert note.evaluate("n => n.textContent") == HOSTILE
    assert note.locator("script, img, a, svg").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"
    summary_links = page.locator(".panel-summarize a")
    for index in range(summary_links.count()):
        assert summary_links.nth(index).get_attribute("href").startswith("#")
    # The same text as a file, with a hostile id, runs nothing either.
    data = "id,text\n\"<img src=x onerror=window.__xss=6>\",\"" + HOSTILE.replace('"', '""') + "\"\n"
    page.get_by_label("Note text").fill("")
    dropped = page.evaluate("""(data) => {  // dropped on the drop zone, as from a file manager
        const transfer = new DataTransfer();
        transfer.items.add(new File([data], 'hostile.csv', {type: 'text/csv'}));
        const zone = document.getElementById('drop');
        for (const kind of ['dragenter', 'dragover', 'drop']) {
            zone.dispatchEvent(new DragEvent(kind, {dataTransfer: transfer, bubbles: true, cancelable: true}));
        }
        return document.getElementById('file').files[0].name; }""", data)
    assert dropped == "hostile.csv"
    page.get_by_role("button", name="Analyze").click()
    page.wait_for_selector(".document")
    assert page.locator("h2", has_text="<img src=x").count() == 1
    assert page.evaluate("typeof window.__xss") == "undefined" and not violations


def test_web_browser_refuses_requests_without_the_csrf_token_even_from_this_site(page, server):
    sign_in(page, server["key"])
    status = page.evaluate("""async () => {
        const body = new FormData(); body.append('text', 'chest pain'); body.append('run', 'classify');
        const answer = await fetch('/analyze', {method: 'POST', body, credentials: 'same-origin'});
        return answer.status; }""")
    assert status == 403
    forged = page.evaluate("""async () => {
        const body = new FormData(); body.append('text', 'chest pain'); body.append('run', 'classify');
        body.append('csrf_token', 'guessed');
        return (await fetch('/analyze', {method: 'POST', body})).status; }""")
    assert forged == 403


def test_web_browser_another_site_cannot_post_to_the_pages(page, server, tmp_path):
    """A page on another origin auto-submits a form to the service in the signed-in browser: refused."""
    sign_in(page, server["key"])
    attack = (f'<form id=f method=post action="{server["base"]}/analyze" enctype="multipart/form-data">'
              '<input name=text value="chest pain"><input name=run value=classify></form>'
              "<script>document.getElementById('f').submit()</script>").encode()

    class Attacker(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(attack)

        def log_message(self, *args):
            pass

    attacker = http.server.HTTPServer(("127.0.0.1", free_port()), Attacker)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        with page.expect_response(lambda r: r.url.endswith("/analyze") and r.request.method == "POST") as answer:
            page.goto(f"http://127.0.0.1:{attacker.server_address[1]}/")
        assert answer.value.status == 403
        assert "did not come from this site" in page.content() or "another site" in page.content()
    finally:
        attacker.shutdown()


def test_web_browser_job_from_a_csv_reaches_completed_and_downloads(page, server):
    sign_in(page, server["key"])
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["id", "text"])
    for number in range(40):
        writer.writerow([f"n{number}", NOTE if number % 2 else "Knee arthroscopy for a torn meniscus, then a cast."])
    nav(page, "Jobs").click()
    page.get_by_label("File").set_input_files({"name": "notes.csv", "mimeType": "text/csv",
                                               "buffer": rows.getvalue().encode()})
    page.get_by_label("Labels (classify)").check()
    assert page.locator("#job-options-summarize").is_hidden()  # only the chosen operation's options show
    page.get_by_label("Classifier").select_option("mtsamples-tfidf")
    page.get_by_role("button", name="Start the job").click()
    page.wait_for_url("**/jobs/*")
    assert "QUEUED" in page.locator("#job-status").text_content() or \
        "RUNNING" in page.locator("#job-status").text_content() or \
        "COMPLETED" in page.locator("#job-status").text_content()
    page.locator(".status-completed").wait_for(timeout=90_000)  # the page polls, then shows the final state
    assert page.locator("#job-progress").evaluate("p => [p.value, p.max]") == [40, 40]
    assert "40 done, 0 failed, of 40 records" in page.locator("#job-counts").text_content()
    shoot(page, "job", ".job")
    with page.expect_download() as download:
        page.get_by_role("link", name="Results (JSON lines)").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [f"n{number}" for number in range(40)]
    with page.expect_download() as download:
        page.get_by_role("link", name="Results (CSV)").click()
    table = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [row["id"] for row in table] == [f"n{number}" for number in range(40)] and "labels" in table[0]
    with page.expect_download() as download:
        page.get_by_role("link", name="Error manifest").click()
    assert Path(download.value.path()).read_text() == ""
    nav(page, "Jobs").click()
    assert page.locator("table.jobs .status-completed").count() >= 1
    shoot(page, "jobs")
    # Delete the job's files (confirmed in a dialog).
    page.go_back()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete its files").click()
    page.wait_for_selector("text=deleted")
    assert page.get_by_role("link", name="Results (CSV)").count() == 0
    assert not page.problems, page.problems


def test_web_browser_models_and_the_keyboard(page, server):
    sign_in(page, server["key"])
    nav(page, "Models").click()
    shoot(page, "models")
    page.get_by_role("link", name="ohsumed-tfidf").click()
    assert page.locator("h1").text_content().startswith("ohsumed-tfidf")
    assert len(page.locator("code.hash").text_content()) == 64
    picture = page.get_by_role("img", name="Confusion matrix of ohsumed-tfidf")
    picture.scroll_into_view_if_needed()
    assert picture.evaluate("i => i.complete && i.naturalWidth > 100")  # the PNG loaded under the page policy
    shoot(page, "model", ".plot")
    # The skip link is the first stop, then the main navigation; every control has a name.
    page.goto("/analyze")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    unnamed = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
        .filter(c => !(c.labels && c.labels.length) && !c.getAttribute('aria-label') && !c.textContent.trim())
        .map(c => c.outerHTML)""")
    assert unnamed == []


def test_web_browser_mining_reports_render_with_their_own_styles_and_no_script(page, server):
    sign_in(page, server["key"])
    nav(page, "Reports").click()
    shoot(page, "reports")
    with page.expect_download() as download:
        page.get_by_role("link", name="categories.csv").click()
    assert Path(download.value.path()).read_text().startswith("category,documents")
    page.get_by_role("link", name="cardiology-2024").click()
    page.wait_for_url("**/report.html")
    assert page.locator("h1").text_content() == "Literature mining report"
    # Its inline stylesheet and the charts' style attributes are allowed by hash: they apply, nothing is refused.
    assert page.evaluate("getComputedStyle(document.body).maxWidth") == "1100px"
    fills = page.evaluate("[...document.querySelectorAll('svg path')].map(p => getComputedStyle(p).fill)")
    assert "rgb(74, 122, 181)" in fills  # the bars' colour, from style attributes
    shoot(page, "report")
    assert not page.problems, page.problems  # no policy violation, no error


def test_web_browser_sign_out(page, server):
    sign_in(page, server["key"])
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/sign-in")
    assert not [c for c in page.context.cookies() if c["name"] == "clinnlp_session"]
    page.goto("/jobs")
    assert page.url.endswith("/sign-in")
    audit = (server["state"] / "audit.jsonl").read_text()
    entries = [json.loads(line) for line in audit.splitlines()]
    assert [e for e in entries if e["endpoint"] == "/sign-out" and e["key_id"]]
    assert "crushing" not in audit and "window.__xss" not in audit

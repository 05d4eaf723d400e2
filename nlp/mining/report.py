"""One self-contained HTML report: charts as inline SVG (matplotlib), tables as HTML, no scripts, no
links to fetch; it opens offline in any browser."""

from __future__ import annotations

import html
import io
from dataclasses import asdict, is_dataclass
from datetime import datetime, timezone
from pathlib import Path

import nlp
from nlp.files import write_atomic

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .5em;text-align:left}
th{background:#f4f4f4}td.n{text-align:right}.grid{display:flex;flex-wrap:wrap;gap:1em}.note{color:#666;font-size:.9em}
"""


def _svg(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _bars(labels: list[str], values: list[float], title: str, horizontal: bool = True) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not labels:
        return ""
    height = max(2.5, 0.28 * len(labels) + 1) if horizontal else 3.2
    figure, axis = plt.subplots(figsize=(6.5, height))
    if horizontal:
        axis.barh(range(len(labels))[::-1], values, color="#4a7ab5")
        axis.set_yticks(range(len(labels))[::-1], [label[:60] for label in labels], fontsize=8)
    else:
        axis.bar(range(len(labels)), values, color="#4a7ab5")
        axis.set_xticks(range(len(labels)), labels, rotation=90 if len(labels) > 12 else 0, fontsize=8)
    axis.set_title(title, fontsize=10)
    axis.spines[["top", "right"]].set_visible(False)
    return _svg(figure)


def _topic_map(topic_map: dict, topics: list[dict]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    centers = topic_map.get("centers") or []
    if not centers:
        return ""
    sizes = {row["topic"]: row["documents"] for row in topics}
    names = {row["topic"]: row["name"] for row in topics}
    figure, axis = plt.subplots(figsize=(7, 5.5))
    colours = plt.get_cmap("tab20")
    for topic, points in sorted(topic_map.get("points", {}).items(), key=lambda item: int(item[0])):
        xs, ys = zip(*points)
        axis.scatter(xs, ys, s=4, alpha=0.35, color=colours(int(topic) % 20))
    largest = max(sizes.values() or [1])
    for topic, (x, y) in enumerate(centers):
        axis.scatter([x], [y], s=60 + 900 * sizes.get(topic, 0) / largest, color=colours(topic % 20),
                     edgecolor="black", linewidth=0.5, alpha=0.8)
        axis.annotate(f"{topic}: {names.get(topic, '')}"[:40], (x, y), fontsize=7, ha="center", va="bottom")
    axis.set_title("Topic map (PCA of topic centres; dots are sampled documents)", fontsize=10)
    axis.set_xticks([])
    axis.set_yticks([])
    return _svg(figure)


def _table(rows: list[dict], limit: int = 50) -> str:
    if not rows:
        return "<p class=note>Nothing to show.</p>"
    head = "".join(f"<th>{html.escape(str(key))}</th>" for key in rows[0])
    body = []
    for row in rows[:limit]:
        cells = "".join(f"<td class=n>{value}</td>" if isinstance(value, (int, float)) else
                        f"<td>{html.escape(str(value))}</td>" for value in row.values())
        body.append(f"<tr>{cells}</tr>")
    more = f"<p class=note>First {limit} of {len(rows)} rows; all in the CSV file.</p>" if len(rows) > limit else ""
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


def write_report(path: Path, tables: dict, topic_map: dict, info: dict) -> None:
    """Write the report to ``path`` (replacing it whole, never half-written)."""
    settings = info.get("settings")
    settings = asdict(settings) if is_dataclass(settings) else (settings or {})
    categories = tables.get("categories", [])
    years = [row for row in tables.get("years", []) if row["year"] != "unknown"]
    topics = tables.get("topics", [])
    terms = tables.get("terms", [])[:30]
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<title>Literature mining report</title>", f"<style>{STYLE}</style></head><body>",
        "<h1>Literature mining report</h1>",
        f"<p>{info['documents']} documents analyzed; {info['errors']} records could not be used (see "
        "<code>errors.jsonl</code>). Created "
        f"{datetime.now(timezone.utc).replace(microsecond=0).isoformat()} by clinnlp {nlp.__version__}"
        + (f" with category model <code>{html.escape(str(settings.get('model')))}</code>, summarizer "
           f"<code>{html.escape(str(settings.get('summarizer')))}</code>" if settings else "") + ".</p>",
        "<h2>Categories</h2><div class=grid>",
        _bars([f"{r['category']} {r['name']}" for r in categories], [r["documents"] for r in categories],
              "Documents by predicted category"),
        _table(categories), "</div>",
        "<h2>Years</h2>", _bars([str(r["year"]) for r in years], [r["documents"] for r in years],
                                "Documents by publication year", horizontal=False) or
        "<p class=note>No publication years in the input.</p>",
        "<h2>Topics</h2>",
        "<p class=note>Clusters of document embeddings (MiniLM, k-means), each named by its most distinctive "
        "key terms (class-based TF-IDF).</p>",
        _topic_map(topic_map, topics), _table(topics),
        "<h2>Key terms</h2><div class=grid>",
        _bars([r["term"] for r in terms], [r["documents"] for r in terms], "Documents mentioning each key term"),
        _table(terms, 30), "</div>",
        "<h2>Association rules</h2>",
        "<p class=note>Categories, MeSH terms and key terms that occur together (FP-Growth): support is the "
        "share of documents with both sides, confidence the share of documents with the left side that also "
        "have the right, lift how much more often than by chance.</p>",
        _table(tables.get("rules", []), 60),
        "</body></html>",
    ]
    write_atomic(path, "\n".join(parts))

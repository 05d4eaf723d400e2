"""What a collection of analyzed articles says: topics, key terms, counts, association rules.

Reads the analyzed shards one at a time, twice, so memory does not grow with the collection (except the
association-rule transactions, one bit per frequent item per document):

1. counts by category and year, document frequencies of key terms and of rule items, and topics:
   ``MiniBatchKMeans`` fitted shard by shard on the document embeddings;
2. each document's topic; per-topic key-term counts, which name each topic by its most distinctive terms
   (class-based TF-IDF, as BERTopic does); the per-document outputs (Parquet and JSONL).

Association rules between co-occurring categories, MeSH terms and key terms come from FP-Growth
(``mlxtend``), with support, confidence and lift.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nlp.files import atomic_path
from nlp.mining.shards import ERRORS, shard_name

TOPIC_TERMS = 6
MIN_RULE_SUPPORT = 0.02
MIN_RULE_CONFIDENCE = 0.3
MAX_RULES = 200
MAX_RULE_ITEMS = 150  # most frequent items considered for rules
EMBEDDING = "embedding"


def default_topics(documents: int) -> int:
    """About sqrt(n/2) topics, between 2 and 30 (fewer than the documents)."""
    return int(max(2, min(30, round(math.sqrt(documents / 2)), documents - 1 if documents > 2 else 2)))


def _shards(shards_dir: Path, total: int, columns=None):
    import pyarrow.parquet as pq

    for index in range(total):
        table = pq.read_table(shards_dir / f"{shard_name(index)}.parquet", columns=columns)
        if table.num_rows:
            yield table


def _items(category: str, mesh, terms) -> set[str]:
    return {f"category: {category}"} | {f"mesh: {m}" for m in mesh or []} | {f"term: {t}" for t in terms or []}


def collect(out_dir: Path, total: int, settings, topics: int | None = None, progress: bool = True) -> dict:
    """Write the collection outputs under ``out_dir`` from its ``total`` analyzed shards."""
    from sklearn.cluster import MiniBatchKMeans

    shards_dir = out_dir / "shards"
    categories, years, term_df, item_df = Counter(), Counter(), Counter(), Counter()
    category_names = {}
    documents = 0
    for table in tqdm(_shards(shards_dir, total, ["category", "category_name", "year", "mesh", "key_terms"]),
                      total=total, desc="counting", unit=" shards", disable=not progress):
        rows = table.to_pydict()
        documents += table.num_rows
        for category, name, year, mesh, terms in zip(rows["category"], rows["category_name"], rows["year"],
                                                     rows["mesh"], rows["key_terms"]):
            categories[category] += 1
            category_names[category] = name
            years[year if year is not None else "unknown"] += 1
            term_df.update(set(terms))
            item_df.update(_items(category, mesh, terms))
    errors = _merge_errors(out_dir, total)
    if not documents:
        _write_empty(out_dir)
        return {"documents": 0, "errors": errors}

    k = min(topics or default_topics(documents), documents)
    kmeans = MiniBatchKMeans(n_clusters=k, random_state=0, n_init=3, batch_size=1024)
    pending = None
    for table in _shards(shards_dir, total, [EMBEDDING]):
        vectors = np.asarray(table.column(EMBEDDING).to_pylist(), dtype=np.float32)
        pending = vectors if pending is None else np.vstack([pending, vectors])
        if len(pending) >= max(3 * k, 256):  # partial_fit needs at least k rows per call
            kmeans.partial_fit(pending)
            pending = None
    if pending is not None and (not hasattr(kmeans, "cluster_centers_") or len(pending) >= k):
        kmeans.partial_fit(pending if len(pending) >= k else np.resize(pending, (k, pending.shape[1])))

    frequent = {item for item, _ in item_df.most_common(MAX_RULE_ITEMS) if item_df[item] >= MIN_RULE_SUPPORT * documents}
    columns = sorted(frequent)
    column_index = {item: i for i, item in enumerate(columns)}
    transactions = []
    topic_terms: dict[int, Counter] = {t: Counter() for t in range(k)}
    topic_sizes, topic_categories = Counter(), {t: Counter() for t in range(k)}
    topic_points = {t: [] for t in range(k)}
    rng = np.random.default_rng(0)
    writer = _DocumentWriter(out_dir)
    for table in tqdm(_shards(shards_dir, total), total=total, desc="collecting", unit=" shards",
                      disable=not progress):
        vectors = np.asarray(table.column(EMBEDDING).to_pylist(), dtype=np.float32)
        assigned = kmeans.predict(vectors)
        rows = table.drop_columns([EMBEDDING]).to_pylist()
        for row, topic, vector in zip(rows, assigned.tolist(), vectors):
            topic_terms[topic].update(row["key_terms"])
            topic_sizes[topic] += 1
            topic_categories[topic][row["category"]] += 1
            if len(topic_points[topic]) < 200 and rng.random() < 0.5:
                topic_points[topic].append(vector)
            transactions.append([column_index[i] for i in _items(row["category"], row["mesh"], row["key_terms"])
                                 if i in column_index])
            row["topic"] = topic
        writer.write(rows)
    names = topic_names(topic_terms)
    writer.close(names)

    rules = association_rules(transactions, columns, documents)
    tables = {
        "categories": [{"category": c, "name": category_names[c], "documents": n, "share": round(n / documents, 4)}
                       for c, n in categories.most_common()],
        "years": [{"year": y, "documents": n} for y, n in sorted(years.items(), key=lambda item: str(item[0]))],
        "topics": [{"topic": t, "name": " / ".join(names[t][:3]), "documents": topic_sizes[t],
                    "terms": " ".join(names[t]),
                    "top_category": topic_categories[t].most_common(1)[0][0] if topic_categories[t] else ""}
                   for t in sorted(range(k), key=lambda t: -topic_sizes[t])],
        "terms": [{"term": t, "documents": n, "share": round(n / documents, 4)} for t, n in term_df.most_common(100)],
        "rules": rules,
    }
    for name, rows in tables.items():
        write_csv(out_dir / f"{name}.csv", rows)
    topic_map = _topic_map(kmeans.cluster_centers_, topic_points)
    from nlp.mining.report import write_report

    write_report(out_dir / "report.html", tables, topic_map, {"documents": documents, "errors": errors,
                                                              "settings": settings})
    return {"documents": documents, "errors": errors, "topics": k, "rules": len(rules)}


def topic_names(topic_terms: dict[int, Counter], size: int = TOPIC_TERMS) -> dict[int, list[str]]:
    """Each topic's most distinctive key terms by class-based TF-IDF: a term's share of the topic's terms
    times ``log(1 + average terms per topic / the term's count over all topics)``."""
    totals = Counter()
    for counts in topic_terms.values():
        totals.update(counts)
    average = sum(totals.values()) / max(1, len(topic_terms))
    names = {}
    for topic, counts in topic_terms.items():
        size_of_topic = sum(counts.values()) or 1
        scored = sorted(counts, key=lambda t: (-(counts[t] / size_of_topic) * math.log(1 + average / totals[t]), t))
        names[topic] = scored[:size]
    return names


def association_rules(transactions: list[list[int]], columns: list[str], documents: int) -> list[dict]:
    """Rules ``A -> B`` with support, confidence and lift (FP-Growth), strongest lift first."""
    import pandas as pd
    import scipy.sparse as sp
    from mlxtend.frequent_patterns import association_rules as rules_from, fpgrowth

    if not columns or documents < 2:
        return []
    rows = np.repeat(np.arange(len(transactions)), [len(t) for t in transactions])
    cols = np.fromiter((c for t in transactions for c in t), dtype=np.int64, count=len(rows))
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(len(transactions), len(columns)))
    frame = pd.DataFrame.sparse.from_spmatrix(matrix, columns=columns)
    itemsets = fpgrowth(frame, min_support=MIN_RULE_SUPPORT, use_colnames=True, max_len=3)
    if len(itemsets) < 2:
        return []
    found = rules_from(itemsets, metric="confidence", min_threshold=MIN_RULE_CONFIDENCE, num_itemsets=documents)
    found = found[found["lift"] > 1.0].sort_values(["lift", "confidence", "support"], ascending=False)
    out = []
    for _, rule in found.head(MAX_RULES).iterrows():
        out.append({"if": " & ".join(sorted(rule["antecedents"])), "then": " & ".join(sorted(rule["consequents"])),
                    "support": round(float(rule["support"]), 4), "confidence": round(float(rule["confidence"]), 4),
                    "lift": round(float(rule["lift"]), 3), "documents": int(round(rule["support"] * documents))})
    return out


def _topic_map(centers: np.ndarray, points: dict[int, list]) -> dict:
    """2-D coordinates of topic centres and a sample of documents (PCA of the centres)."""
    from sklearn.decomposition import PCA

    if len(centers) < 2:
        return {"centers": [[0.0, 0.0]] * len(centers), "points": {}}
    pca = PCA(n_components=2, random_state=0).fit(centers)
    return {"centers": pca.transform(centers).round(4).tolist(),
            "points": {t: pca.transform(np.asarray(p)).round(4).tolist() for t, p in points.items() if p}}


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        if not rows:
            return
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _merge_errors(out_dir: Path, total: int) -> int:
    """``errors.jsonl``: the records that could not be read, then those that could not be analyzed."""
    count = 0
    with (out_dir / ERRORS).open("w", encoding="utf-8") as merged:
        parts = [out_dir / "read_errors.jsonl"] + [out_dir / "shards" / f"{shard_name(i)}.errors.jsonl"
                                                   for i in range(total)]
        for part in parts:
            if part.is_file():
                for line in part.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        merged.write(line + "\n")
                        count += 1
    return count


def _write_empty(out_dir: Path) -> None:
    for name in ("categories", "years", "topics", "terms", "rules"):
        write_csv(out_dir / f"{name}.csv", [])
    (out_dir / "documents.jsonl").write_text("")
    import pyarrow.parquet as pq

    from nlp.mining.analyze import document_schema
    from nlp.mining.report import write_report

    pq.write_table(document_schema(with_embedding=False).empty_table(), out_dir / "documents.parquet")

    write_report(out_dir / "report.html", {}, {"centers": [], "points": {}}, {"documents": 0, "errors": 0,
                                                                               "settings": None})


class _DocumentWriter:
    """Per-document results to ``documents.parquet`` and ``documents.jsonl``, shard by shard, then the topic
    names are filled in (a second pass over the JSONL, streamed)."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.jsonl = (out_dir / ".documents.jsonl.partial").open("w", encoding="utf-8")

    def write(self, rows: list[dict]) -> None:
        for row in rows:
            self.jsonl.write(json.dumps(row, ensure_ascii=False) + "\n")

    def close(self, names: dict[int, list[str]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.jsonl.close()
        unnamed = self.out_dir / ".documents.jsonl.partial"
        writer, batch = None, []
        with atomic_path(self.out_dir / "documents.parquet") as parquet_partial, \
                atomic_path(self.out_dir / "documents.jsonl") as jsonl_partial, \
                jsonl_partial.open("w", encoding="utf-8") as final_jsonl, unnamed.open(encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                row["topic_name"] = " / ".join(names[row["topic"]][:3])
                final_jsonl.write(json.dumps(row, ensure_ascii=False) + "\n")
                batch.append(row)
                if len(batch) >= 5000:
                    writer = _write_parquet_batch(writer, batch, parquet_partial, pa, pq)
                    batch = []
            if batch or writer is None:
                writer = _write_parquet_batch(writer, batch, parquet_partial, pa, pq)
            writer.close()
        unnamed.unlink()


def _write_parquet_batch(writer, batch, path, pa, pq):
    from nlp.mining.analyze import document_schema

    table = pa.Table.from_pylist(batch, schema=document_schema(with_embedding=False))
    if writer is None:
        writer = pq.ParquetWriter(path, table.schema)
    writer.write_table(table)
    return writer

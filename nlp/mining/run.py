"""`clinnlp mine`: from a pile of abstracts to per-document results, collection tables and a report.

Three steps, each restartable:

1. **Stage**: the input is read once, lazily, and cut into shards of ``shard_size`` articles, written as
   JSONL under ``OUTDIR/shards/`` with a manifest; unreadable records go to ``OUTDIR/errors.jsonl``. A
   re-run on the same input (same size and modification time) reuses the staged shards.
2. **Analyze**: each shard not yet done is analyzed (category, summary, sentence roles, key terms,
   embedding) and written to ``shard-NNNNN.parquet``; a ``.done`` marker is written last, atomically.
   After an interruption a re-run only analyzes the shards without a marker. ``engine="local"`` uses
   worker processes on this machine; ``engine="ray"`` runs the same analyzer in Ray actors (a local Ray
   instance, or a cluster with ``ray_address``; then OUTDIR must be on storage every node can read).
3. **Collect**: the shards are read back one at a time (memory stays flat) to fit topics, count, mine
   association rules and write ``documents.parquet``, ``documents.jsonl``, the CSV tables and
   ``report.html`` (see :mod:`nlp.mining.collection`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from tqdm import tqdm

from nlp.documents import DocumentError
from nlp.files import atomic_path, write_atomic
from nlp.mining.analyze import ArticleAnalyzer, MiningSettings, document_schema
from nlp.mining.articles import Article, read_articles
from nlp.mining.shards import ERRORS, MANIFEST, shard_name
from nlp.parallel import available_cpus, worker_pool

log = logging.getLogger(__name__)



@dataclass
class MiningResult:
    """What a run did: counts, the output folder, and the time it took."""

    out_dir: Path
    documents: int
    errors: int
    shards: int
    shards_analyzed: int
    seconds: dict = field(default_factory=dict)


def _fingerprint(path: Path) -> list:
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in files]


def stage(input_path: Path, out_dir: Path, shard_size: int, progress: bool = True, deidentify: bool = False) -> dict:
    """Cut the input into JSONL shards (or reuse them); returns the manifest.

    With ``deidentify``, each title and abstract is de-identified (redacted) before its shard is written, so no
    identifier reaches the output folder; offsets in the results then refer to the de-identified text.
    """
    shards_dir = out_dir / "shards"
    manifest_path = out_dir / MANIFEST
    fingerprint = _fingerprint(input_path)
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("input") == fingerprint and manifest.get("shard_size") == shard_size and \
                manifest.get("deidentify", False) == deidentify:
            log.info("reusing %d staged shards", manifest["shards"])
            return manifest
        log.info("the input or shard size changed: staging again")
        for old in shards_dir.glob("shard-*"):
            old.unlink()
    shards_dir.mkdir(parents=True, exist_ok=True)
    documents = errors = shards = 0
    batch: list[Article] = []
    deidentifier = None
    if deidentify:
        from nlp.privacy import Deidentifier

        deidentifier = Deidentifier()
    bar = tqdm(desc="staging", unit=" records", disable=not progress)
    with open(out_dir / f".{ERRORS}.staging", "wb") as error_file:
        def flush():
            nonlocal shards, batch
            if deidentifier is not None:
                clean = deidentifier.deidentify([part for a in batch for part in (a.title or " ", a.abstract)])
                batch = [replace(a, title=clean[2 * i].text if a.title else a.title, abstract=clean[2 * i + 1].text)
                         for i, a in enumerate(batch)]
            lines = (json.dumps(a.as_dict(), ensure_ascii=False) + "\n" for a in batch)
            write_atomic(shards_dir / f"{shard_name(shards)}.jsonl", "".join(lines).encode())
            shards += 1
            batch = []

        for item in read_articles(input_path):
            bar.update(1)
            if isinstance(item, DocumentError):
                errors += 1
                error_file.write((json.dumps({**item.as_dict(), "step": "read"}) + "\n").encode())
                continue
            documents += 1
            batch.append(item)
            if len(batch) >= shard_size:
                flush()
        if batch:
            flush()
    bar.close()
    manifest = {"input": fingerprint, "shard_size": shard_size, "shards": shards, "documents": documents,
                "read_errors": errors, "deidentify": deidentify}
    (out_dir / f".{ERRORS}.staging").replace(out_dir / "read_errors.jsonl")
    write_atomic(manifest_path, json.dumps(manifest, indent=2).encode())
    return manifest


def analyze_shard(analyzer: ArticleAnalyzer, shards_dir: Path, index: int) -> dict:
    """Analyze one staged shard into Parquet (plus its errors), then mark it done; returns its counts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = shard_name(index)
    articles = [Article(**json.loads(line)) for line in (shards_dir / f"{name}.jsonl").read_text().splitlines()]
    rows, errors = [], []
    try:
        rows = analyzer.analyze(articles)
    except Exception as batch_error:  # find the article(s) at fault, keep the rest
        log.warning("shard %s: %s; analyzing its articles one by one", name, type(batch_error).__name__)
        for article in articles:
            try:
                rows.extend(analyzer.analyze([article]))
            except Exception as error:
                errors.append({"id": article.id, "source": article.source, "step": "analyze",
                               "reason": f"{type(error).__name__} while analyzing"})
    table = pa.Table.from_pylist(rows, schema=document_schema(with_embedding=True))
    with atomic_path(shards_dir / f"{name}.parquet") as partial:
        pq.write_table(table, partial)
    (shards_dir / f"{name}.errors.jsonl").write_text("".join(json.dumps(e) + "\n" for e in errors))
    counts = {"shard": index, "documents": len(rows), "errors": len(errors)}
    write_atomic(shards_dir / f"{name}.done", json.dumps(counts).encode())
    return counts


def pending_shards(shards_dir: Path, total: int) -> list[int]:
    return [i for i in range(total) if not (shards_dir / f"{shard_name(i)}.done").is_file()]


_worker_analyzer: ArticleAnalyzer | None = None


def _start_local_worker(settings: MiningSettings, threads: int) -> None:
    import torch

    global _worker_analyzer
    torch.set_num_threads(threads)
    _worker_analyzer = ArticleAnalyzer(settings)


def _local_shard(args: tuple[str, int]) -> dict:
    return analyze_shard(_worker_analyzer, Path(args[0]), args[1])


def run_local(settings: MiningSettings, shards_dir: Path, pending: list[int], workers: int,
              progress: bool) -> None:
    """Analyze ``pending`` shards in ``workers`` processes (one analyzer each), or in this process."""
    bar = tqdm(total=len(pending), desc="analyzing", unit=" shards", disable=not progress)
    cores = available_cpus()
    if workers <= 1 or len(pending) <= 1:
        _start_local_worker(settings, cores)
        for index in pending:
            _local_shard((str(shards_dir), index))
            bar.update(1)
    else:
        from concurrent.futures import as_completed

        # spawn: torch's threads do not survive a fork
        with worker_pool(workers, _start_local_worker, (settings, max(1, cores // workers)), start="spawn") as pool:
            for _ in as_completed([pool.submit(_local_shard, (str(shards_dir), i)) for i in pending]):
                bar.update(1)
    bar.close()


def run_ray(settings: MiningSettings, shards_dir: Path, pending: list[int], workers: int, progress: bool,
            ray_address: str | None = None) -> None:
    """Analyze ``pending`` shards with ``ray.data``: one analyzer per actor, ``workers`` actors."""
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=ray_address, include_dashboard=False, log_to_driver=False,
                 num_cpus=None if ray_address else max(workers, 1), ignore_reinit_error=True)
    try:
        class ShardActor:
            def __init__(self):
                import torch

                torch.set_num_threads(1)
                self.analyzer = ArticleAnalyzer(settings)

            def __call__(self, batch: dict) -> dict:
                counts = [analyze_shard(self.analyzer, Path(folder), int(index))
                          for folder, index in zip(batch["folder"], batch["shard"])]
                return {"shard": [c["shard"] for c in counts], "documents": [c["documents"] for c in counts]}

        dataset = ray.data.from_items([{"folder": str(shards_dir), "shard": i} for i in pending],
                                      override_num_blocks=max(1, len(pending)))
        done = dataset.map_batches(ShardActor, batch_size=1, concurrency=max(1, workers), num_cpus=1)
        bar = tqdm(total=len(pending), desc="analyzing (ray)", unit=" shards", disable=not progress)
        for _ in done.iter_rows():
            bar.update(1)
        bar.close()
    finally:
        if started_here:
            ray.shutdown()


def mine(input_path: str | Path, out_dir: str | Path, settings: MiningSettings | None = None,
         engine: str = "local", workers: int = 1, shard_size: int = 1000, topics: int | None = None,
         ray_address: str | None = None, progress: bool = True) -> MiningResult:
    """Stage, analyze and collect; see the module docstring."""
    from nlp.mining.collection import collect

    settings = settings or MiningSettings()
    input_path, out_dir = Path(input_path), Path(out_dir)
    if engine not in ("local", "ray"):
        raise ValueError(f"unknown engine {engine!r}; known: local, ray")
    if shard_size < 1 or workers < 1:
        raise ValueError("--shard-size and --workers must be at least 1")
    if out_dir.resolve() == input_path.resolve() or input_path.resolve() in out_dir.resolve().parents:
        raise ValueError(f"{out_dir}: the output folder must not be (inside) the input")
    out_dir.mkdir(parents=True, exist_ok=True)
    settings_path = out_dir / "settings.json"
    if settings_path.is_file() and json.loads(settings_path.read_text()) != asdict(settings):
        for done in (out_dir / "shards").glob("shard-*.done"):  # other models: earlier results do not count
            done.unlink()
    write_atomic(settings_path, json.dumps(asdict(settings), indent=2).encode())
    seconds = {}
    started = time.perf_counter()
    manifest = stage(input_path, out_dir, shard_size, progress, settings.deidentify)
    seconds["stage"] = round(time.perf_counter() - started, 1)
    shards_dir = out_dir / "shards"
    pending = pending_shards(shards_dir, manifest["shards"])
    log.info("%d of %d shards to analyze (%s engine, %d workers)", len(pending), manifest["shards"], engine, workers)
    started = time.perf_counter()
    if pending:
        if engine == "ray":
            run_ray(settings, shards_dir, pending, workers, progress, ray_address)
        else:
            run_local(settings, shards_dir, pending, workers, progress)
    seconds["analyze"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    summary = collect(out_dir, manifest["shards"], settings, topics=topics, progress=progress)
    seconds["collect"] = round(time.perf_counter() - started, 1)
    return MiningResult(out_dir, summary["documents"], summary["errors"], manifest["shards"], len(pending), seconds)

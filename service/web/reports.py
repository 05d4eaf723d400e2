"""Literature-mining reports, read-only: the ``report.html`` that ``clinnlp mine`` writes, and the tables beside
it, for every mining output folder in ``CLINNLP_REPORTS_DIR`` (the folder itself, or its sub-folders).

Reports and files are found by listing that folder; a request names one of the listed entries, never a path, so
nothing outside the folder can be reached (links that lead out of it are refused). A report is served as its own
document under a policy of its own: no script at all (the report has none), in a sandbox, its inline stylesheets
allowed by hash, nothing fetched.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime, timezone
from pathlib import Path

from flask import Response, render_template, send_file

from service.errors import ApiError
from service.web.blueprint import bp, state

REPORT = "report.html"
TABLE_SUFFIXES = (".csv", ".jsonl", ".parquet")
STYLE_ELEMENT = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"""\sstyle=(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)


def _root() -> Path | None:
    folder = state().settings.reports_dir
    return Path(folder).resolve() if folder and Path(folder).is_dir() else None


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except (ValueError, OSError):
        return False
    return True


def listing() -> dict[str, Path]:
    """Report name -> folder: the reports folder itself (by its own name) and each sub-folder with a report."""
    root = _root()
    if root is None:
        return {}
    found = {}
    candidates = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
    for folder in candidates:
        if (folder / REPORT).is_file() and _inside(folder / REPORT, root):
            found[folder.name] = folder
    return found


def _folder(name: str) -> Path:
    folder = listing().get(name)
    if folder is None:
        raise ApiError(404, "no such report")
    return folder


def _tables(folder: Path) -> list[dict]:
    root = _root()
    return [{"name": p.name, "bytes": p.stat().st_size} for p in sorted(folder.iterdir())
            if p.suffix in TABLE_SUFFIXES and p.is_file() and _inside(p, root)]


def report_policy(html: str) -> str:
    """The report's policy: its inline stylesheets and style attributes by hash, pictures as data: URLs, no
    script, no requests, sandboxed."""
    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    elements = {digest(m.group(1)) for m in STYLE_ELEMENT.finditer(html)}
    attributes = {digest(m.group(1) if m.group(1) is not None else m.group(2)) for m in STYLE_ATTRIBUTE.finditer(html)}
    styles = " ".join(sorted(elements | attributes)) or "'none'"
    unsafe_hashes = "'unsafe-hashes' " if attributes else ""
    return (f"default-src 'none'; style-src {unsafe_hashes}{styles}; img-src data:; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox")


@bp.get("/reports")
def reports():
    """The mining reports in the reports folder."""
    found = []
    for name, folder in listing().items():
        modified = datetime.fromtimestamp((folder / REPORT).stat().st_mtime, timezone.utc)
        found.append({"name": name, "modified": modified.isoformat(timespec="seconds"), "tables": _tables(folder)})
    return render_template("reports.html", reports=found, configured=_root() is not None)


@bp.get("/reports/<name>/report.html")
def report(name: str):
    """One report, as ``clinnlp mine`` wrote it."""
    html = (_folder(name) / REPORT).read_text(encoding="utf-8")
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = report_policy(html)
    return response


@bp.get("/reports/<name>/files/<filename>")
def report_file(name: str, filename: str):
    """A table beside a report (CSV, JSON lines, Parquet), as a download."""
    folder = _folder(name)
    if filename not in {table["name"] for table in _tables(folder)}:
        raise ApiError(404, "no such file")
    return send_file(folder / filename, as_attachment=True, download_name=filename)

"""Literature records from JSONL, CSV/TSV, PubMed/MEDLINE XML and RIS files, read lazily.

Every reader yields :class:`Article` objects, or :class:`~nlp.documents.DocumentError` for a record that
cannot be used (its source and the reason, never its text), so one bad record never stops the rest.

- JSONL/CSV/TSV: ``id`` (or ``pmid``), ``title``, ``abstract`` or ``text``; optional ``year``, ``journal``
  and ``mesh`` (a list, or a ``;``-separated string).
- PubMed XML (``.xml``, ``.xml.gz``: efetch output and the annual baseline files): ``PubmedArticle``
  elements, read with lxml's ``iterparse`` so a 30,000-article baseline file never sits in memory whole;
  structured abstracts keep their section labels. A file that breaks off mid-way yields what came before
  the break and one error for the break.
- RIS (``.ris``, ``.txt`` from reference managers), parsed with ``rispy``.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nlp.documents import DocumentError, InputError, read_records

ID_FIELDS = ("id", "pmid", "PMID")
TEXT_FIELDS = ("abstract", "text")
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")


@dataclass
class Article:
    """One article: what mining reads."""

    id: str
    title: str
    abstract: str
    source: str
    year: int | None = None
    journal: str | None = None
    mesh: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Title and abstract, as the classifiers and summarizers read them."""
        return f"{self.title}\n{self.abstract}" if self.title else self.abstract

    def as_dict(self) -> dict:
        return asdict(self)


def detect_article_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".xml", ".xml.gz")):
        return "pubmed"
    if name.endswith((".ris", ".txt")):
        return "ris"
    if name.endswith((".jsonl", ".ndjson", ".csv", ".tsv")):
        return "table"
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    raise InputError(f"{path}: unknown format; expected .jsonl, .csv, .tsv, .xml(.gz) (PubMed) or .ris")


def read_articles(path: str | Path) -> Iterator[Article | DocumentError]:
    """Each article of ``path`` (a file, or a folder of files read in name order), lazily."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        for file in files:
            try:
                detect_article_format(file)
            except InputError:
                continue
            yield from read_articles(file)
        return
    fmt = detect_article_format(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if fmt == "pubmed":
        yield from _read_pubmed(path)
    elif fmt == "ris":
        yield from _read_ris(path)
    else:
        yield from read_records(path, _article_from_record)


def _year(value) -> int | None:
    match = _YEAR.search(str(value or ""))
    return int(match.group(1)) if match else None


def _checked(article: Article) -> Article | DocumentError:
    if not article.abstract.strip():
        return DocumentError(article.source, "no abstract text", article.id)
    return article


def _article_from_record(record: dict, source: str, line_id: str) -> Article | DocumentError:
    raw_id = next((record[k] for k in ID_FIELDS if record.get(k) not in (None, "")), None)
    doc_id = str(raw_id) if raw_id is not None else line_id
    text_field = next((k for k in TEXT_FIELDS if k in record), None)
    if text_field is None:
        return DocumentError(source, "missing field 'abstract' (or 'text')", doc_id)
    abstract, title = record[text_field], record.get("title") or ""
    if not isinstance(abstract, str) or not isinstance(title, str):
        return DocumentError(source, "fields 'title' and 'abstract' must be strings", doc_id)
    mesh = record.get("mesh") or []
    if isinstance(mesh, str):
        mesh = [term.strip() for term in mesh.split(";") if term.strip()]
    if not isinstance(mesh, list) or not all(isinstance(term, str) for term in mesh):
        return DocumentError(source, "field 'mesh' must be a list of strings or a ';'-separated string", doc_id)
    journal = record.get("journal")
    return _checked(Article(doc_id, title.strip(), abstract.strip(), source, _year(record.get("year")),
                            str(journal) if journal else None, mesh))


def _text(element) -> str:
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


def _pubmed_article(element, source: str) -> Article | DocumentError:
    citation = element.find("MedlineCitation")
    if citation is None:
        return DocumentError(source, "PubmedArticle without MedlineCitation")
    pmid = _text(citation.find("PMID"))
    article = citation.find("Article")
    if not pmid or article is None:
        return DocumentError(source, "PubmedArticle without PMID or Article", pmid or None)
    parts = []
    for piece in article.findall("Abstract/AbstractText"):
        label = piece.get("Label")
        text = _text(piece)
        if text:
            parts.append(f"{label.upper()}: {text}" if label else text)
    journal = article.find("Journal")
    year = None
    if journal is not None:
        year = _year(_text(journal.find("JournalIssue/PubDate/Year"))) or \
            _year(_text(journal.find("JournalIssue/PubDate/MedlineDate")))
    mesh = [_text(d) for d in citation.findall("MeshHeadingList/MeshHeading/DescriptorName")]
    return _checked(Article(pmid, _text(article.find("ArticleTitle")), "\n".join(parts), f"{source}:PMID {pmid}",
                            year, _text(journal.find("Title")) if journal is not None else None,
                            [m for m in mesh if m]))


def _read_pubmed(path: Path) -> Iterator[Article | DocumentError]:
    from lxml import etree

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    count = 0
    try:
        with opener(path, "rb") as handle:
            # No network and no entity expansion: a baseline file's DTD is never fetched.
            for _, element in etree.iterparse(handle, events=("end",), tag="PubmedArticle",
                                              resolve_entities=False, no_network=True, huge_tree=True):
                count += 1
                yield _pubmed_article(element, str(path))
                element.clear()
                while element.getprevious() is not None:
                    del element.getparent()[0]
    except etree.XMLSyntaxError as error:
        yield DocumentError(f"{path}:{error.lineno or '?'}", f"broken XML after {count} articles: {error.msg}")
    except (OSError, EOFError) as error:
        yield DocumentError(str(path), f"unreadable file after {count} articles ({type(error).__name__})")


def _read_ris(path: Path) -> Iterator[Article | DocumentError]:
    import rispy

    try:
        with path.open(encoding="utf-8-sig", errors="replace") as handle:
            entries = rispy.load(handle, skip_unknown_tags=True)
    except Exception as error:  # rispy raises plain IOError/ValueError subclasses for broken files
        yield DocumentError(str(path), f"unreadable RIS file ({type(error).__name__}: {str(error)[:120]})")
        return
    for number, entry in enumerate(entries, start=1):
        source = f"{path}:record {number}"
        doc_id = str(entry.get("id") or entry.get("accession_number") or entry.get("doi") or number)
        title = entry.get("title") or entry.get("primary_title") or ""
        abstract = entry.get("abstract") or ""
        journal = entry.get("journal_name") or entry.get("secondary_title") or entry.get("alternate_title3")
        mesh = [k for k in entry.get("keywords", []) if isinstance(k, str)]
        year = _year(entry.get("year") or entry.get("publication_year") or entry.get("date"))
        yield _checked(Article(doc_id, str(title).strip(), str(abstract).strip(), source, year,
                               str(journal) if journal else None, mesh))

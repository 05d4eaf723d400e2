"""Loaders for the public corpora (``load_corpus``) and for the user's own labelled files (``load_files``).

Every loader returns a :class:`datasets.DatasetDict` with standard columns: ``id`` and ``text``, then
``label`` (single-label), ``labels`` (a list, multi-label) or ``summary`` (summarization). Extra
columns (``group``, ``section_header``, ...) carry what a corpus needs for grouped splits.
"""

from corpora.custom import load_files
from corpora.registry import CORPORA, CorpusError, CorpusInfo, get_corpus, load_corpus, resolve_data_dir

__all__ = [
    "CORPORA",
    "CorpusError",
    "CorpusInfo",
    "get_corpus",
    "load_corpus",
    "load_files",
    "resolve_data_dir",
]

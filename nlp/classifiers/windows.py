"""Overlapping token windows, so a transformer reads all of a long document instead of its first 512 tokens.

A document is tokenized once, without truncation. Its tokens are cut into windows of at most ``max_length``
tokens (special tokens included) that overlap by at least ``stride`` tokens; every token falls in at least one
window. Fixed windows are all ``max_length`` long, the last one ending at the last token; balanced windows are
the fewest that cover the document, all of one length, spread evenly (a 300-token document is read as two
windows of about 166 tokens, where fixed 256-token windows read about 510). Each window remembers its document
and the character offsets of its tokens, so attributions can point back into the text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Windows:
    """Token windows over a batch of documents.

    ``input_ids[i]`` has the special tokens; ``offsets[i]`` has one ``(start, end)`` per token of
    ``input_ids[i]`` (``(0, 0)`` for special tokens); ``document[i]`` is the index of its document.
    """

    input_ids: list[list[int]]
    offsets: list[list[tuple[int, int]]]
    document: np.ndarray
    n_documents: int

    def __len__(self) -> int:
        return len(self.input_ids)

    def covered(self, index: int) -> list[tuple[int, int]]:
        """Character spans ``(start, end)`` each window of document ``index`` covers."""
        spans = []
        for window in np.flatnonzero(self.document == index):
            tokens = [o for o in self.offsets[window] if o != (0, 0)]
            if tokens:
                spans.append((tokens[0][0], tokens[-1][1]))
        return spans


def window_starts(n_tokens: int, body: int, stride: int) -> list[int]:
    """Start positions of windows of ``body`` tokens overlapping by ``stride``, covering ``n_tokens``."""
    if stride >= body:
        raise ValueError(f"stride ({stride}) must be smaller than the window body ({body})")
    if n_tokens <= body:
        return [0]
    step = body - stride
    starts = list(range(0, n_tokens - body, step))
    starts.append(n_tokens - body)  # the last window ends at the last token
    return starts


def balanced_windows(n_tokens: int, body: int, stride: int) -> tuple[list[int], int]:
    """Start positions and the one length of the fewest windows of at most ``body`` tokens that cover
    ``n_tokens`` with neighbours sharing at least ``stride`` tokens, spread evenly from the first token to the
    last."""
    count = len(window_starts(n_tokens, body, stride))  # fixed windows are already the fewest that fit
    if count == 1:
        return [0], n_tokens
    length = -(-(n_tokens + (count - 1) * stride) // count)  # count * length covers the tokens and the overlaps
    # Floored even spacing: neighbours start at most ceil(rest / (count - 1)) apart, so they share >= stride.
    rest = n_tokens - length
    return [index * rest // (count - 1) for index in range(count)], length


@dataclass
class FastTokenizer:
    """The ``tokenizers`` object a ``transformers`` fast tokenizer runs (normalizer, pre-tokenizer and vocabulary
    as transformers set them up from the model's files), saved beside an ONNX export with the ids of the tokens
    that open and close a window: all inference needs, without importing transformers or torch (seconds of
    start-up). It splits text exactly as the tokenizer it was saved from."""

    tokenizer: Any
    cls_token_id: int
    sep_token_id: int

    @classmethod
    def from_transformers(cls, tokenizer) -> "FastTokenizer":
        return cls.from_str(tokenizer.backend_tokenizer.to_str(), tokenizer.cls_token_id, tokenizer.sep_token_id)

    @classmethod
    def from_str(cls, serialized: str, cls_token_id: int, sep_token_id: int) -> "FastTokenizer":
        """From a serialized ``tokenizers.Tokenizer``, set to encode whole texts (no truncation, no padding)."""
        from tokenizers import Tokenizer

        backend = Tokenizer.from_str(serialized)
        backend.no_truncation()
        backend.no_padding()
        return cls(backend, int(cls_token_id), int(sep_token_id))

    def save(self, path: str | Path) -> None:
        from nlp.files import write_atomic

        write_atomic(path, json.dumps({"cls_token_id": self.cls_token_id, "sep_token_id": self.sep_token_id,
                                       "tokenizer": self.tokenizer.to_str()}))

    @classmethod
    def load(cls, path: str | Path) -> "FastTokenizer":
        saved = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls.from_str(saved["tokenizer"], saved["cls_token_id"], saved["sep_token_id"])


def encode_whole(tokenizer, texts: list[str]) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
    """Token ids and character offsets of each text, whole (no special tokens, no truncation), from a
    ``transformers`` tokenizer or a :class:`FastTokenizer`."""
    if isinstance(tokenizer, FastTokenizer):
        encodings = tokenizer.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [e.ids for e in encodings], [e.offsets for e in encodings]
    encoded = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True,
                        return_attention_mask=False, truncation=False, verbose=False)
    return encoded["input_ids"], encoded["offset_mapping"]


def split_windows(tokenizer, texts: list[str], max_length: int, stride: int, balanced: bool = False) -> Windows:
    """Tokenize ``texts`` whole and cut them into overlapping windows of at most ``max_length`` tokens
    (``balanced``: the fewest windows of one length; see the module docstring)."""
    all_ids, all_offsets = encode_whole(tokenizer, texts)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    body = max_length - 2
    input_ids, offsets, document = [], [], []
    for index, (ids, spans) in enumerate(zip(all_ids, all_offsets)):
        if balanced:
            starts, length = balanced_windows(len(ids), body, stride)
        else:
            starts, length = window_starts(len(ids), body, stride), body
        for start in starts:
            input_ids.append([cls, *ids[start:start + length], sep])
            offsets.append([(0, 0), *map(tuple, spans[start:start + length]), (0, 0)])
            document.append(index)
    return Windows(input_ids, offsets, np.asarray(document, dtype=np.int64), len(texts))


def padded_batch(sequences: list[list[int]], rows) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask of ``sequences[rows]``, padded to the longest (int64 arrays)."""
    longest = max(len(sequences[i]) for i in rows)
    ids = np.zeros((len(rows), longest), dtype=np.int64)
    mask = np.zeros((len(rows), longest), dtype=np.int64)
    for slot, i in enumerate(rows):
        ids[slot, :len(sequences[i])] = sequences[i]
        mask[slot, :len(sequences[i])] = 1
    return ids, mask


def length_sorted_batches(lengths: list[int], max_tokens: int, max_batch: int) -> list[np.ndarray]:
    """Indices grouped into batches of similar length (longest first), each padded to at most
    ``max_tokens`` tokens in all and ``max_batch`` rows, so little compute is spent on padding."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    batches, current, longest = [], [], 0
    for index in order.tolist():
        longest_if_added = max(longest, lengths[index])
        if current and (longest_if_added * (len(current) + 1) > max_tokens or len(current) >= max_batch):
            batches.append(np.asarray(current))
            current, longest_if_added = [], lengths[index]
        current.append(index)
        longest = longest_if_added
    if current:
        batches.append(np.asarray(current))
    return batches

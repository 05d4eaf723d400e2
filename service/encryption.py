"""Patient text at rest: files encrypted with AES-256-GCM in chunks, read and written as streams.

A file is a header (magic, key id, a random nonce prefix) and a sequence of chunks, each ``length | ciphertext``.
Chunk ``i`` is sealed with the nonce ``prefix | i | last`` and the header and the file's purpose (for example
``job <id> results``) as associated data: the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár, 2015). A
chunk cannot be changed, reordered, dropped, moved to another file or to another job without failing
authentication, and a file cut short is detected because its last chunk says so. Memory stays at one chunk
(at most :data:`CHUNK_BYTES` of plaintext), whatever the file's size.

Keys come from ``CLINNLP_DATA_KEY`` (base64 of 32 bytes; several comma-separated during a rotation: the first
encrypts, all decrypt) or from a key file made once, mode 0600, in the state folder. Each file names the key it
was sealed with by an id (the first 8 bytes of the key's SHA-256), so old files stay readable while a new key
takes over.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import secrets
import struct
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"CNLPENC1"
CHUNK_BYTES = 1 << 16
_PREFIX_BYTES = 7  # + 4 bytes chunk counter + 1 byte last-chunk flag = the 12-byte GCM nonce
_HEADER = struct.Struct(f">8s8s{_PREFIX_BYTES}s")
_LENGTH = struct.Struct(">I")
_TAG_BYTES = 16
KEY_FILE = "data-key"


class DecryptionError(ValueError):
    """A file cannot be decrypted: another key, a changed or truncated file, or not an encrypted file."""


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:8]


class DataKeys:
    """The keys for data at rest: the first encrypts, every one decrypts (so keys can be rotated)."""

    def __init__(self, keys: list[bytes]):
        if not keys or any(len(key) != 32 for key in keys):
            raise ValueError("data keys must be 32 bytes each (base64 of 32 random bytes)")
        self.keys = {key_id(key): AESGCM(key) for key in keys}
        self.current = key_id(keys[0])

    @classmethod
    def parse(cls, value: str) -> "DataKeys":
        """Keys from ``CLINNLP_DATA_KEY``'s form: comma-separated base64, the current key first."""
        keys = []
        for part in (p.strip() for p in value.split(",") if p.strip()):
            try:
                keys.append(base64.b64decode(part, validate=True))
            except ValueError:
                raise ValueError("CLINNLP_DATA_KEY: not base64 (make a key with: clinnlp jobs new-key)") from None
        return cls(keys)

    @classmethod
    def load(cls, configured: str, state_dir: Path) -> "DataKeys":
        """The configured keys, else the key file in ``state_dir`` (made once, readable only by its owner)."""
        if configured:
            return cls.parse(configured)
        path = Path(state_dir) / KEY_FILE
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls.parse(path.read_text(encoding="ascii"))
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(new_key() + "\n")
        return cls.parse(path.read_text(encoding="ascii"))

    def cipher(self, identifier: bytes) -> AESGCM:
        try:
            return self.keys[identifier]
        except KeyError:
            raise DecryptionError("the file was encrypted with a key this service does not have "
                                  "(add the old key after the new one in CLINNLP_DATA_KEY)") from None


def new_key() -> str:
    """A fresh data key, base64."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


class EncryptedWriter(io.RawIOBase):
    """A binary stream that writes an encrypted file: ``write`` buffers, ``flush`` seals what is buffered as
    one chunk (so a reader of an unfinished file sees every flushed byte), ``close`` seals the last chunk.

    Closing after :meth:`abandon` leaves the file without its last chunk: a reader that asks for a complete
    file then refuses it.
    """

    def __init__(self, path: Path | BinaryIO, keys: DataKeys, purpose: str):
        super().__init__()
        if hasattr(path, "write"):  # a sink that is not a file on disk (the database job storage)
            self._file = path
        else:
            self._file = open(path, "xb")  # noqa: SIM115 (closed in close())
            os.chmod(path, 0o600)
        self._cipher = keys.cipher(keys.current)
        self._header = _HEADER.pack(MAGIC, keys.current, secrets.token_bytes(_PREFIX_BYTES))
        self._prefix = self._header[-_PREFIX_BYTES:]
        self._aad = self._header + purpose.encode()
        self._index = 0
        self._buffer = bytearray()
        self._complete = True
        self._file.write(self._header)

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._buffer += data
        while len(self._buffer) >= CHUNK_BYTES:
            self._seal(bytes(self._buffer[:CHUNK_BYTES]), last=False)
            del self._buffer[:CHUNK_BYTES]
        return len(data)

    def flush(self) -> None:
        if self.closed or self._file.closed:
            return
        if self._buffer:
            self._seal(bytes(self._buffer), last=False)
            self._buffer.clear()
        self._file.flush()

    def __exit__(self, kind, error, traceback):
        # A block that fails leaves an incomplete file, never one that reads as whole.
        self.abandon() if kind is not None else self.close()

    def abandon(self) -> None:
        """Close without the last chunk (the file then reads as incomplete)."""
        self._complete = False
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._complete:
                self._seal(bytes(self._buffer), last=True)
                self._file.flush()
                if isinstance(self._file, io.FileIO | io.BufferedWriter):
                    os.fsync(self._file.fileno())
        finally:
            self._file.close()
            super().close()

    def _seal(self, plaintext: bytes, last: bool) -> None:
        sealed = self._cipher.encrypt(_nonce(self._prefix, self._index, last), plaintext, self._aad)
        self._file.write(_LENGTH.pack(len(sealed)) + sealed)
        self._index += 1


class EncryptedReader(io.RawIOBase):
    """The plaintext of an encrypted file as a binary stream (wrap it in ``io.BufferedReader`` for lines).

    Args:
        complete: Require the last chunk (a finished file). Without it, an unfinished file is read up to its
            last whole chunk (a running job's results so far); either way a changed chunk is an error.
    """

    def __init__(self, path: Path | BinaryIO, keys: DataKeys, purpose: str, complete: bool = True):
        super().__init__()
        self._file = path if hasattr(path, "read") else open(path, "rb")  # noqa: SIM115 (closed in close())
        header = self._file.read(_HEADER.size)
        if len(header) != _HEADER.size or not header.startswith(MAGIC):
            self._file.close()
            raise DecryptionError("not an encrypted file")
        _, identifier, self._prefix = _HEADER.unpack(header)
        self._cipher = keys.cipher(identifier)
        self._aad = header + purpose.encode()
        self._complete = complete
        self._index = 0
        self._pending = b""
        self._finished = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending and not self._finished:
            self._pending = self._next_chunk()
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def _next_chunk(self) -> bytes:
        length = self._file.read(_LENGTH.size)
        if len(length) < _LENGTH.size:
            return self._end("the file ends before its last chunk (truncated, or still being written)")
        (size,) = _LENGTH.unpack(length)
        sealed = self._file.read(size)
        if len(sealed) < size or size < _TAG_BYTES:
            return self._end("the file ends inside a chunk (truncated, or still being written)")
        for last in (False, True):
            try:
                plaintext = self._cipher.decrypt(_nonce(self._prefix, self._index, last), sealed, self._aad)
            except InvalidTag:
                continue
            self._index += 1
            self._finished = last
            return plaintext
        raise DecryptionError("a chunk failed authentication: the file was changed, or belongs elsewhere")

    def _end(self, problem: str) -> bytes:
        if self._complete:
            raise DecryptionError(problem)
        self._finished = True
        return b""

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


def open_encrypted(path: Path | BinaryIO, keys: DataKeys, purpose: str, complete: bool = True) -> io.BufferedReader:
    """A buffered reader of an encrypted file's plaintext (lines, ``read``, iteration); ``path`` may also be a
    binary stream of the encrypted bytes."""
    return io.BufferedReader(EncryptedReader(path, keys, purpose, complete), buffer_size=CHUNK_BYTES)


def encrypt_file(source: Path, target: Path, keys: DataKeys, purpose: str) -> None:
    """Encrypt ``source`` into a new file ``target`` as a stream."""
    with source.open("rb") as plain, EncryptedWriter(target, keys, purpose) as sealed:
        while block := plain.read(CHUNK_BYTES):
            sealed.write(block)

"""Content-addressed store of original bytes: each distinct file is kept once, by SHA-256.

Layout: ``<root>/ab/cd/abcd…`` (two levels of fan-out keep directories small at millions of
files). Writes go to a temporary file and are renamed into place, so a killed process never
leaves a truncated blob under a valid name. A crawl puts thousands of blobs a minute, so the
folders already made are remembered and the temporary name is a counter (O_EXCL still
guards against a clash) instead of ``mkstemp``'s random retries.
"""
from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._dirs: set[str] = set()
        self._serial = itertools.count()
        self._prefix = f".tmp-{os.getpid()}-{os.urandom(4).hex()}-"

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes, sha256: str | None = None) -> str:
        """Store ``data`` (if not already there) and return its SHA-256 (``sha256``, if the caller has it)."""
        digest = sha256 or sha256_hex(data)
        folder = os.path.join(self.root, digest[:2], digest[2:4])
        path = os.path.join(folder, digest)
        if os.path.exists(path):
            return digest
        if folder not in self._dirs:
            os.makedirs(folder, exist_ok=True)
            self._dirs.add(folder)
        tmp = os.path.join(folder, f"{self._prefix}{next(self._serial)}")
        try:
            with open(tmp, "xb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, sha256: str) -> bytes:
        return self.path_for(sha256).read_bytes()

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).exists()

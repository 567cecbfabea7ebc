"""Artifacts in a local folder."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import BinaryIO

from usina.artifacts.keys import check_key
from usina.errors import Conflict, InvalidKey, NotFound

CHUNK = 1 << 20
_TMP_MARK = ".tmp-"


class FileArtifactStore:
    """Keys are files under ``root``; writes go to a temporary file, fsync, then rename.

    A crash at any moment leaves either the old value or the new one, plus at worst a
    ``.<name>.tmp-*`` file that readers and ``list`` ignore.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().absolute()
        self.uri = self.root.as_uri()

    def _path(self, key: str) -> Path:
        check_key(key)
        path = self.root / key
        # A symlink planted inside the root must not lead outside it.
        real_root = os.path.realpath(self.root)
        real = os.path.realpath(path)
        if real != real_root and not real.startswith(real_root + os.sep):
            raise InvalidKey(f"artifact key {key!r} resolves outside the store", field="key")
        return path

    def write(self, key: str, data: bytes | BinaryIO) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise self._clash(key) from None
        if path.is_dir():
            raise self._clash(key)
        tmp = path.with_name(f".{path.name}{_TMP_MARK}{uuid.uuid4().hex}")
        try:
            with open(tmp, "wb") as out:
                if isinstance(data, bytes | bytearray | memoryview):
                    out.write(data)
                else:
                    while chunk := data.read(CHUNK):
                        out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return open(path, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no artifact at {key!r} in {self.uri}", field="key") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            path = self._path(key)
            if path.is_dir():
                raise self._clash(key)
            path.unlink()

    def _clash(self, key: str) -> Conflict:
        return Conflict(
            f"artifact key {key!r} clashes with another: a key cannot be both a value and a "
            "folder of values (as 'a' and 'a/b')",
            field="key",
        )

    def list(self, prefix: str = "") -> list[str]:
        base = self._path(prefix.rstrip("/")) if prefix else self.root
        if not base.is_dir():
            return []
        keys = []
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if _TMP_MARK in name and name.startswith("."):
                    continue
                keys.append(Path(dirpath, name).relative_to(self.root).as_posix())
        return sorted(keys)

"""Tokens saved by ``usina auth login``: one file, ``tokens.json`` in the config folder
(``USINA_CONFIG_DIR``), readable by its owner only (mode 0600), one token per server URL, so
a token is only ever sent to the server that issued it."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

FILE = "tokens.json"


def _path(config_dir: Path) -> Path:
    return config_dir / FILE


def _read(config_dir: Path) -> dict[str, Any]:
    try:
        found = json.loads(_path(config_dir).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def load(config_dir: Path, url: str) -> str | None:
    """The unexpired token saved for ``url``, if any."""
    entry = _read(config_dir).get(url.rstrip("/"))
    if not isinstance(entry, dict) or entry.get("expires_at", 0) <= time.time():
        return None
    secret = entry.get("secret")
    return secret if isinstance(secret, str) else None


def entry(config_dir: Path, url: str) -> dict[str, Any] | None:
    """What is saved for ``url`` (secret, token id, principal, expiry)."""
    found = _read(config_dir).get(url.rstrip("/"))
    return found if isinstance(found, dict) else None


def save(config_dir: Path, url: str, saved: dict[str, Any]) -> Path:
    """Save ``saved`` for ``url``; the file is written whole with mode 0600, then renamed."""
    config_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = _read(config_dir)
    data[url.rstrip("/")] = saved
    return _write(config_dir, data)


def forget(config_dir: Path, url: str) -> bool:
    """Remove the token saved for ``url``; ``True`` if there was one."""
    data = _read(config_dir)
    if data.pop(url.rstrip("/"), None) is None:
        return False
    _write(config_dir, data)
    return True


def _write(config_dir: Path, data: dict[str, Any]) -> Path:
    target = _path(config_dir)
    temporary = target.with_name(f".{FILE}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, indent=2)
        os.chmod(temporary, 0o600)  # whatever the umask made of it
        os.replace(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return target

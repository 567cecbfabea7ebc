"""Signed checkpoints: the log's head (seq, hash, time) in a small JSON file, signed with
HMAC-SHA256 under a key only its holders have (``USINA_AUDIT_KEY``).

Kept away from the database (another machine, a bucket with retention), a checkpoint lets
``usina audit verify --checkpoint FILE`` detect a log cut short, or rewritten, after it: the
chain alone cannot tell a deleted tail from a log that ended there.

The file::

    {"format": "usina-audit-checkpoint/1", "seq": 1200, "hash": "ab12...", "time": 1764590000.5,
     "signature": "hex of HMAC-SHA256(key, canonical JSON of {format, hash, seq, time})"}
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any

from usina.audit.checks import canonical_json
from usina.audit.entities import Checkpoint
from usina.errors import InvalidInput

FORMAT = "usina-audit-checkpoint/1"
KEY_SETTING = "USINA_AUDIT_KEY"
MIN_KEY_LENGTH = 16
_HEX64 = re.compile(r"[0-9a-f]{64}")


def check_key(key: str | None) -> bytes:
    """The signing key as bytes; ``InvalidInput`` naming the setting when absent or short."""
    if not key:
        raise InvalidInput(
            f"no key to sign or check audit checkpoints with; set {KEY_SETTING} to a secret of "
            f"at least {MIN_KEY_LENGTH} characters, the same wherever checkpoints are made and "
            "checked",
            field=KEY_SETTING,
        )
    if len(key) < MIN_KEY_LENGTH:
        raise InvalidInput(
            f"{KEY_SETTING} is {len(key)} characters; use at least {MIN_KEY_LENGTH}",
            field=KEY_SETTING,
        )
    return key.encode()


def _signed_part(cp: Checkpoint) -> bytes:
    return canonical_json({"format": FORMAT, "seq": cp.seq, "hash": cp.hash, "time": cp.time})


def sign(cp: Checkpoint, key: str | None) -> dict[str, Any]:
    """The checkpoint file's content for ``cp``, signed under ``key``."""
    mac = hmac.new(check_key(key), _signed_part(cp), hashlib.sha256).hexdigest()
    return {"format": FORMAT, "seq": cp.seq, "hash": cp.hash, "time": cp.time, "signature": mac}


def write(path: Path, cp: Checkpoint, key: str | None) -> dict[str, Any]:
    """Sign ``cp`` and write it to ``path``; the file's content."""
    content = sign(cp, key)
    try:
        path.write_text(json.dumps(content, indent=2) + "\n")
    except OSError as exc:
        raise InvalidInput(f"cannot write the checkpoint to {path}: {exc}", field="out") from None
    return content


def read(path: Path, key: str | None) -> Checkpoint:
    """The checkpoint in ``path``, once its signature is checked under ``key``.

    Raises:
        InvalidInput: the file is missing or malformed, no key is set, or the signature does
            not match (the file was altered, or signed under another key).
    """
    secret = check_key(key)
    try:
        content = json.loads(path.read_text())
    except OSError as exc:
        raise InvalidInput(
            f"cannot read the checkpoint {path}: {exc}", field="checkpoint"
        ) from None
    except ValueError:
        raise InvalidInput(f"{path} is not a checkpoint: not JSON", field="checkpoint") from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise InvalidInput(
            f"{path} is not a checkpoint ({FORMAT}); make one with 'usina audit checkpoint'",
            field="checkpoint",
        )
    seq, hash_, time, signature = (content.get(k) for k in ("seq", "hash", "time", "signature"))
    if (
        isinstance(seq, bool)
        or not isinstance(seq, int)
        or seq < 0
        or not isinstance(hash_, str)
        or not _HEX64.fullmatch(hash_)
        or isinstance(time, bool)
        or not isinstance(time, int | float)
        or not isinstance(signature, str)
    ):
        raise InvalidInput(
            f"{path} is not a valid checkpoint: seq, hash, time or signature is malformed",
            field="checkpoint",
        )
    cp = Checkpoint(seq, hash_, float(time))
    expected = hmac.new(secret, _signed_part(cp), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise InvalidInput(
            f"the signature of {path} does not match under {KEY_SETTING}: the file was altered "
            "or signed with another key; it cannot vouch for the log",
            field="checkpoint",
        )
    return cp

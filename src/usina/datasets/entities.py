"""What the dataset store returns: frozen records, and the checks on what it is given."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from usina.errors import Conflict, InvalidInput, InvalidUri

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,127}")
_DIGEST = re.compile(r"[0-9a-f]{64}")
SCHEME = "datasets:/"


@dataclass(frozen=True)
class Dataset:
    """A named table: its expectations and its newest version (0 before the first)."""

    name: str
    latest: int
    expectations: tuple[dict[str, Any], ...]
    created_at: float
    updated_at: float
    created_by: str
    # The PII policy every new version is written under (``usina.privacy.check_policy``'s
    # form), or None.
    pii_policy: dict[str, Any] | None = None

    @property
    def pii_policy_digest(self) -> str:
        """What a version written under this dataset's policy records (``""``: none)."""
        from usina.privacy.policy import policy_digest

        return policy_digest(self.pii_policy)


@dataclass(frozen=True)
class DatasetVersion:
    """One immutable version: a Parquet file stored under its SHA-256 ``digest``.

    ``schema`` lists ``{"name", "type"}`` per column in order; ``profile`` maps each column to
    its statistics (see ``usina.datasets.profile``); ``run_id`` is the run that produced it
    (a pipeline step's), empty when it was ingested by hand.
    """

    name: str
    version: int
    digest: str
    uri: str
    schema: tuple[dict[str, str], ...]
    rows: int
    bytes: int
    profile: dict[str, Any]
    source: str
    created_at: float
    created_by: str
    run_id: str = ""
    pii_policy: str = ""  # the digest of the dataset's PII policy it was written under

    @property
    def reference(self) -> str:
        """The URI that names this version: ``datasets:/name/3``."""
        return f"{SCHEME}{self.name}/{self.version}"


@dataclass(frozen=True)
class VersionIn:
    """What a new version records; the store numbers it."""

    digest: str
    schema: tuple[dict[str, str], ...]
    rows: int
    bytes: int
    profile: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    run_id: str = ""
    # The digest of the dataset's PII policy the file was written under (``""``: none); the
    # store refuses a version whose digest is not the dataset's current policy's.
    pii_policy: str = ""


@dataclass(frozen=True)
class Registered:
    """A version registered, and whether it is new (``False``: the same content was already
    a version of the dataset, which is returned instead)."""

    version: DatasetVersion
    created: bool


def check_name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidInput(
            f"dataset name {value!r} is not valid; use letters, digits and '._-' (starting "
            "with a letter or digit, at most 128 characters)",
            field="name",
        )
    return value


def check_version_number(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"version {value!r} is not a positive integer", field="version")
    return value


def check_version_in(v: VersionIn) -> VersionIn:
    if not isinstance(v.digest, str) or not _DIGEST.fullmatch(v.digest):
        raise InvalidInput(f"digest {v.digest!r} is not a SHA-256 hex digest", field="digest")
    for name in ("rows", "bytes"):
        value = getattr(v, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput(f"{name} must be a count (0 or more)", field=name)
    if not isinstance(v.schema, tuple | list) or not v.schema:
        raise InvalidInput("schema must list at least one column", field="schema")
    seen: set[str] = set()
    for column in v.schema:
        if (
            not isinstance(column, dict)
            or not isinstance(column.get("name"), str)
            or not isinstance(column.get("type"), str)
        ):
            raise InvalidInput('each schema column is {"name": ..., "type": ...}', field="schema")
        if column["name"] in seen:
            raise InvalidInput(f"column {column['name']!r} appears twice", field="schema")
        seen.add(column["name"])
    if not isinstance(v.profile, dict):
        raise InvalidInput("profile must be a JSON object", field="profile")
    try:
        json.dumps(v.profile, allow_nan=False)
    except (TypeError, ValueError):
        raise InvalidInput(
            "profile must be plain JSON (no NaN or infinity)", field="profile"
        ) from None
    if not isinstance(v.source, str) or len(v.source) > 4096:
        raise InvalidInput("source must be a string of at most 4096 characters", field="source")
    if not isinstance(v.run_id, str) or len(v.run_id) > 64:
        raise InvalidInput("run_id must be a run id", field="run_id")
    if not isinstance(v.pii_policy, str) or not (
        v.pii_policy == "" or _DIGEST.fullmatch(v.pii_policy)
    ):
        raise InvalidInput(
            "pii_policy is the SHA-256 digest of the dataset's PII policy, or empty",
            field="pii_policy",
        )
    return VersionIn(
        v.digest,
        tuple(dict(c) for c in v.schema),
        v.rows,
        v.bytes,
        dict(v.profile),
        v.source,
        v.run_id,
        v.pii_policy,
    )


def check_pii_policy(value: Any) -> dict[str, Any] | None:
    """A dataset's PII policy checked and spelt out (None clears it)."""
    if value is None:
        return None
    from usina.privacy.policy import check_policy  # NumPy, only when a policy is given

    return check_policy(value)


def check_written_under(dataset: Dataset, version: VersionIn) -> None:
    """Refuse a version not written under ``dataset``'s current PII policy: its file may hold
    the raw values the policy replaces."""
    wanted = dataset.pii_policy_digest
    if version.pii_policy == wanted:
        return
    if not wanted:
        raise Conflict(
            f"the version says it was written under PII policy {version.pii_policy[:12]}, but "
            f"dataset {dataset.name} has no policy now; write it again",
            field="pii_policy",
        )
    raise Conflict(
        f"dataset {dataset.name} protects PII with policy {wanted[:12]} and this version was "
        f"written under {version.pii_policy[:12] or 'none'}: its file may hold raw values. "
        "Write it with 'usina ingest' or usina.datasets.save, which apply the dataset's policy",
        field="pii_policy",
    )


def parse_dataset_uri(uri: str) -> tuple[str, int | None]:
    """``datasets:/name@latest``, ``datasets:/name/3`` or ``datasets:/name`` (latest) as
    ``(name, version or None for the latest)``.

    >>> parse_dataset_uri("datasets:/applications/3")
    ('applications', 3)
    >>> parse_dataset_uri("datasets:/applications@latest")
    ('applications', None)
    """
    if not isinstance(uri, str) or not uri.startswith(SCHEME):
        raise InvalidUri(
            f"{uri!r} is not a dataset URI; write datasets:/NAME@latest or datasets:/NAME/N",
            field="uri",
        )
    rest = uri[len(SCHEME) :]
    name, sep, alias = rest.partition("@")
    if sep:
        if alias != "latest":
            raise InvalidUri(
                f"{uri!r}: a dataset has only the @latest alias; write datasets:/{name}/N "
                "for a version",
                field="uri",
            )
        return check_name(name), None
    name, sep, number = rest.partition("/")
    if not sep:
        return check_name(name), None
    if not number.isdigit() or int(number) < 1:
        raise InvalidUri(f"{uri!r}: {number!r} is not a version number", field="uri")
    return check_name(name), int(number)

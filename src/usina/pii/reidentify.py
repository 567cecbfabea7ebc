"""Reversal of encrypted values: allowed only with ``usina.pii.reidentify``, always audited.

``reidentify`` checks the caller's grants, appends one audit record whatever the decision
(action ``usina.pii.reidentify``, resource ``pii``, the number of values and the key id in its
details, never the values), and only then decrypts. The server's route
``POST /api/v1/pii:reidentify`` calls it with the verified caller; the command line without a
server calls it with the grants the identity store holds for ``USINA_ACTOR``.

Example:
    >>> import pyarrow as pa
    >>> import usina
    >>> from usina.identity import ROLES, Grant
    >>> from usina.pii import Encrypt, PiiKey, reidentify
    >>> client = usina.Client("sqlite://", "memory://")
    >>> key = PiiKey(bytes(32))
    >>> sealed = Encrypt(key).apply(pa.array(["111.444.777-35"], pa.large_string())).to_pylist()
    >>> admin = [Grant(ROLES["admin"].permissions, "*")]
    >>> reidentify(sealed, key=key, audit=client.audit, actor="user:ana", grants=admin)
    ['111.444.777-35']
    >>> client.audit.list(action="usina.pii.reidentify")[0].decision
    <Decision.ALLOW: 'allow'>
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from usina.audit import AuditEvent, AuditLog
from usina.errors import InvalidInput, PermissionDenied
from usina.identity import Grant, IdentityStore, allows
from usina.identity.permissions import ROLES, WORKSPACE
from usina.privacy.keys import PiiKey
from usina.privacy.operators import Encrypt

PERMISSION = "usina.pii.reidentify"
RESOURCE = "pii"
MAX_VALUES = 10_000


def reidentify(
    values: Sequence[str],
    *,
    key: PiiKey,
    audit: AuditLog,
    actor: str,
    grants: Iterable[Grant],
    scope: frozenset[str] | None = None,
    request_id: str = "",
    client: str = "",
) -> list[str]:
    """The original values of ``values`` (``enc:KEYID:...`` made with ``key``), if ``grants``
    hold ``usina.pii.reidentify`` (within the token's ``scope``, when it has one);
    ``PermissionDenied`` otherwise. Either way one audit
    record is appended before anything is decrypted."""
    values = list(values)
    if len(values) > MAX_VALUES:
        raise InvalidInput(
            f"{len(values)} values at once; reidentify at most {MAX_VALUES} per call",
            field="values",
        )
    allowed = allows(grants, PERMISSION, WORKSPACE, scope)
    audit.append(
        [
            AuditEvent(
                actor,
                PERMISSION,
                RESOURCE,
                "allow" if allowed else "deny",
                None if allowed else 403,
                request_id,
                client,
                {"values": len(values), "key_id": key.key_id},
            )
        ]
    )
    if not allowed:
        raise PermissionDenied(f"{actor} lacks {PERMISSION}: reversal of PII is refused")
    return Encrypt(key).decrypt(values)


def grants_of(identity: IdentityStore, principal: str) -> list[Grant]:
    """What ``principal`` (``KIND:NAME``) holds, directly and through its groups, as the
    identity store says; nothing for an unknown principal."""
    from usina.errors import NotFound

    try:
        identity.get_principal(principal)
    except (NotFound, InvalidInput):
        return []
    holders = [principal]
    for group in identity.list_principals("group"):
        if principal in group.members:
            holders.append(f"group:{group.name}")
    grants = []
    for holder in holders:
        for binding in identity.list_bindings(principal=holder):
            if binding.role in ROLES:
                permissions = ROLES[binding.role].permissions
            else:
                try:
                    permissions = frozenset(identity.get_role(binding.role).permissions)
                except NotFound:
                    continue
            grants.append(Grant(permissions, binding.resource))
    return grants

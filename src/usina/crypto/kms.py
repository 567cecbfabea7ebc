"""Master keys kept by AWS KMS, by envelope encryption: KMS makes each 256-bit data key and
returns it wrapped (encrypted under a KMS key that never leaves KMS); the key ring holds only
the wrapped form, ``ID:aws-kms:BASE64``, and each process asks KMS to unwrap it once, at start.

Needs boto3 (``pip install 'usina[kms]'``), which finds credentials, region and endpoint the
usual way (``AWS_PROFILE``, ``AWS_REGION``, ``AWS_ENDPOINT_URL_KMS``...). The key id is bound
to the wrapped key as KMS encryption context, so a wrapped key moved to another id does not
unwrap. Tested against moto's KMS server; Google Cloud KMS is not built.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from usina.errors import InvalidInput, KeyUnavailable, MissingDependency

SCHEME = "aws-kms"


def _kms(client: Any = None) -> tuple[Any, tuple[type[Exception], ...]]:
    """The KMS client, and the errors its calls raise."""
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError as exc:
        raise MissingDependency(
            "keys kept by AWS KMS need boto3: pip install 'usina[kms]'"
        ) from exc
    return client or boto3.client("kms"), (BotoCoreError, ClientError)


def wrap_new_key(kms_key: str, key_id: str, client: Any = None) -> str:
    """A new data key from KMS key ``kms_key`` (an id, ARN or alias), as one
    ``ID:aws-kms:BASE64`` entry of a key ring; only KMS can unwrap it."""
    kms, failures = _kms(client)
    try:
        made = kms.generate_data_key(
            KeyId=kms_key, KeySpec="AES_256", EncryptionContext={"usina-key": key_id}
        )
    except failures as exc:  # no credentials, an unknown key, KMS unreachable
        raise KeyUnavailable(f"AWS KMS did not make a data key with {kms_key!r}: {exc}") from None
    return f"{key_id}:{SCHEME}:{base64.b64encode(made['CiphertextBlob']).decode()}"


def unwrap_key(key_id: str, wrapped: str, source: str, client: Any = None) -> bytes:
    """The 32 bytes of the wrapped data key ``key_id``, unwrapped by AWS KMS."""
    try:
        blob = base64.b64decode(wrapped, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            f"{source}: the {SCHEME} entry for key {key_id!r} is not base64", field=source
        ) from None
    kms, failures = _kms(client)
    try:
        found = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"usina-key": key_id})
    except failures as exc:
        raise KeyUnavailable(
            f"AWS KMS did not unwrap key {key_id!r} of {source}: {exc}; check the AWS "
            "credentials, region and the KMS key's policy"
        ) from None
    key: bytes = found["Plaintext"]
    return key

"""Secrets: named values (SMTP passwords, webhook keys, cloud credentials) stored sealed with
the master key; listed by name, never printed, and every read of a value audited."""

from usina.secrets.base import SecretStore
from usina.secrets.entities import SecretInfo, check_name, check_value

__all__ = ["SecretInfo", "SecretStore", "check_name", "check_value"]

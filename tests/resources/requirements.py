"""What a test needs beyond the core install: an external service, or an extra's package.

Without it, a test skips with the reason, so a laptop without PostgreSQL or without the kfp
extra still runs everything else. With ``USINA_REQUIRE_SERVICES=1`` (CI sets it) nothing may
be missing: the test fails instead, and ``tests/conftest.py`` turns any other skip into a
failure, so CI's last line says zero skipped.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest


def services_required() -> bool:
    """Whether this run must have every service and extra (``USINA_REQUIRE_SERVICES=1``)."""
    return os.environ.get("USINA_REQUIRE_SERVICES") == "1"


def _unavailable(message: str) -> NoReturn:
    if services_required():
        pytest.fail(f"{message} (USINA_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message, allow_module_level=True)


def require_service(name: str, reason: str) -> NoReturn:
    """Skip (or fail, in CI) a test whose external service is unreachable."""
    _unavailable(f"{name} is not reachable: {reason}")


def require_extra(module: str, extra: str) -> ModuleType:
    """Import ``module``, from the project's ``extra``; skip (or fail, in CI) without it.

    Use it where ``pytest.importorskip`` would go, in a test or at the top of a test module::

        kfp = require_extra("kfp", "kfp")
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        problem = str(exc)
    _unavailable(f"{module} is not importable ({problem}); install it: pip install -e '.[{extra}]'")

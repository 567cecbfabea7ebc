"""Property tests against the OpenAPI document: no 5xx, no answer outside the schema.

A bounded number of examples per operation keeps the run short; the app runs in-process over
ASGI on a fresh SQLite database and folder artifact store.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from resources.keys import some_keys
from usina.server import ServerConfig, create_app

# Schemathesis makes one test per operation while collecting, which pytest-xdist's workers do
# not share: `make test` runs this file in a process of its own, after the others.
pytestmark = pytest.mark.serial

# The schema is loaded at collection (schemathesis parametrizes from it), so the app's state
# lives in a temporary folder removed when the test session ends.
_ROOT = tempfile.TemporaryDirectory(prefix="usina-schemathesis-")
_CONFIG = ServerConfig(
    db_url=f"sqlite:///{Path(_ROOT.name) / 'usina.db'}",
    artifacts=str(Path(_ROOT.name) / "artifacts"),
    allowed_hosts=("testserver",),
    # With a master key, as a deployment that keeps secrets has: without one, storing a secret
    # answers 503 key_unavailable by design (tests/secrets checks that).
    keys=some_keys(),
)
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(_CONFIG))


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    _ROOT.cleanup()


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_answers_within_its_schema(case) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate(
        checks=[
            not_a_server_error,
            response_schema_conformance,
            status_code_conformance,
            content_type_conformance,
        ],
    )

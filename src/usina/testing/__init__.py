"""Conformance suites every backend must pass, for usina's own backends and third parties.

>>> from usina.testing import check_artifact_store
>>> from usina.artifacts.memory import MemoryArtifactStore
>>> check_artifact_store(MemoryArtifactStore)
"""

from usina.testing.artifacts import TRAVERSAL_KEYS, check_artifact_store

__all__ = ["TRAVERSAL_KEYS", "check_artifact_store"]

"""Fixtures of the encryption tests: ``usina serve`` in a subprocess, as the serving tests
start it."""

from serving.conftest import usina_serve

__all__ = ["usina_serve"]

"""The model registry: numbered versions, safe model formats, aliases with history."""

from usina.registry.base import AliasStore, RegistryStore, VersionStore
from usina.registry.entities import AliasChange, ModelVersion, RegisteredModel
from usina.registry.formats import dump_model, load_model_bytes
from usina.registry.http import HttpRegistryStore
from usina.registry.signature import Column, Signature, infer_signature
from usina.registry.sql import SqlRegistryStore
from usina.registry.uri import ModelRef, parse_model_uri

__all__ = [
    "AliasChange",
    "AliasStore",
    "Column",
    "HttpRegistryStore",
    "ModelRef",
    "ModelVersion",
    "RegisteredModel",
    "RegistryStore",
    "Signature",
    "SqlRegistryStore",
    "VersionStore",
    "dump_model",
    "infer_signature",
    "load_model_bytes",
    "parse_model_uri",
]

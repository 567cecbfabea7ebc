"""The metadata store: schema, migrations and transactions over SQLite or PostgreSQL."""

from usina.store.database import Database, insert_if_absent, normalize_url

__all__ = ["Database", "insert_if_absent", "normalize_url"]

"""Parquet held in memory, read without a Python object under Arrow's threads."""

from __future__ import annotations

from typing import Any


def read_parquet(data: bytes, **options: Any) -> Any:
    """The Parquet file ``data`` as a ``pyarrow.Table``.

    The bytes are copied into memory Arrow owns first. A buffer wrapping the Python object
    is released by whichever of Arrow's reader threads finishes last, which may be after
    ``read_table`` has returned; if the interpreter is exiting by then, that thread cannot
    take the GIL to release it, and the process aborts ("terminate called without an active
    exception") after its work is done.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    owned = pa.allocate_buffer(len(data))
    pa.FixedSizeBufferWriter(owned).write(data)
    return pq.read_table(pa.BufferReader(owned), **options)

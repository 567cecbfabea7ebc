"""Routes for the artifact store: ``/api/v1/artifacts/{key}``, streamed both ways.

An upload is spooled to a temporary file while it is hashed, then handed to the artifact store,
so the server's memory holds about one chunk per upload whatever the artifact's size; the price
is one extra local copy on disk. A key under ``sha256/`` must name the digest of its bytes, so
content addressing cannot be poisoned, and such blobs are never deleted through the API (model
versions and runs share them).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import ClientDisconnect

from usina.artifacts import blob_key, check_key
from usina.errors import Conflict, InvalidInput, NotFound
from usina.server import schemas as s
from usina.server.deps import MAX_PAGE, backends, next_offset
from usina.server.guard import LOGS_READ, is_log_key

router = APIRouter(prefix="/api/v1", tags=["artifacts"])
CHUNK = 1 << 20
BLOB_PREFIX = "sha256/"
_BINARY = {
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
}


@router.get("/artifacts", response_model=s.Page[str])
def list_artifacts(
    request: Request,
    prefix: str = Query("", max_length=1024, description="A folder-like prefix, or all keys."),
    limit: int = Query(1000, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=2**62),
) -> s.Page[str]:
    """Keys under a prefix, sorted (request-log files only for callers with
    usina.logs.read)."""
    if prefix:
        check_key(prefix.rstrip("/"))
    keys = backends(request).artifacts.list(prefix)
    caller = getattr(request.state, "caller", None)
    if caller is not None and not caller.allows(LOGS_READ):
        keys = [k for k in keys if not is_log_key(k)]
    keys = keys[offset : offset + limit]
    return s.Page(items=keys, next_offset=next_offset(len(keys), limit, offset))


@router.put(
    "/artifacts/{key:path}",
    status_code=201,
    response_model=s.BlobOut,
    openapi_extra={"requestBody": {"required": True, **_BINARY}},
)
async def upload(request: Request, key: str) -> s.BlobOut:
    """Store the request body under ``key``, streamed (``sha256/ab/<digest>`` keys are checked
    against the bytes)."""
    check_key(key)
    store = backends(request).artifacts
    sha = hashlib.sha256()
    size = 0
    with tempfile.TemporaryFile(prefix="usina-upload-") as spool:
        pending = bytearray()
        try:
            async for chunk in request.stream():
                sha.update(chunk)
                size += len(chunk)
                pending += chunk
                if len(pending) >= CHUNK:
                    await run_in_threadpool(spool.write, bytes(pending))
                    pending.clear()
        except ClientDisconnect:
            # Nothing was stored: the spool goes away with the request.
            raise InvalidInput(f"the upload of {key!r} was cut off", field="body") from None
        if pending:
            await run_in_threadpool(spool.write, bytes(pending))
        digest = sha.hexdigest()
        if key.startswith(BLOB_PREFIX):
            if key != blob_key(digest):
                raise InvalidInput(
                    f"the uploaded bytes hash to sha256:{digest}, so they belong under "
                    f"{blob_key(digest)!r}, not {key!r}",
                    field="key",
                )
            if await run_in_threadpool(store.exists, key):
                return s.BlobOut(key=key, size=size, sha256=digest)
        spool.seek(0)
        await run_in_threadpool(store.write, key, spool)
    return s.BlobOut(key=key, size=size, sha256=digest)


@router.get(
    "/artifacts/{key:path}",
    response_class=StreamingResponse,
    responses={200: _BINARY},
)
def download(request: Request, key: str) -> StreamingResponse:
    """The bytes stored under ``key``, streamed."""
    stream = backends(request).artifacts.open(check_key(key))
    return StreamingResponse(
        iterate_in_threadpool(_chunks(stream)), media_type="application/octet-stream"
    )


@router.head(
    "/artifacts/{key:path}",
    response_class=Response,
    responses={200: {"description": "The key holds a value.", **_BINARY}},
)
def exists(request: Request, key: str) -> Response:
    """200 if ``key`` holds a value, 404 if not."""
    if not backends(request).artifacts.exists(check_key(key)):
        raise NotFound(f"no artifact at {key!r}", field="key")
    return Response(status_code=200, media_type="application/octet-stream")


@router.delete("/artifacts/{key:path}", status_code=204)
def delete(request: Request, key: str) -> Response:
    """Remove ``key`` (content-addressed ``sha256/`` blobs are kept: versions share them)."""
    check_key(key)
    if key.startswith(BLOB_PREFIX):
        raise Conflict(
            f"{key!r} is a content-addressed blob that model versions and runs may share; "
            "it is not deleted through the API",
            field="key",
        )
    backends(request).artifacts.delete(key)
    return Response(status_code=204)


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := stream.read(CHUNK):
            yield chunk
    finally:
        stream.close()

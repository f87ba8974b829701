"""Backups from the UI and API: make one now, list them, download one (admins only).

Archives live in ``<data_dir>/backups``. A download names an archive by its file name
only; anything that is not exactly such a name (``..``, slashes, other files) is 404,
so no request can read outside that folder.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import Body
from litestar.response import File, Template

from services.core.backup import BackupError, config_path, create_backup, default_archive
from services.gateway.audit import audit
from services.gateway.security import requires_role
from services.gateway.state import gateway_state

ADMIN = [requires_role("admin")]
ARCHIVE_NAME = re.compile(r"^vigil-backup-[0-9]{8}-[0-9]{6}(-[0-9]+)?\.tar\.gz$")
_lock = asyncio.Lock()


@dataclass
class EmptyForm:
    csrf_token: str = ""


def backups_dir(request: Request[Any, Any, Any]) -> Path:
    return gateway_state(request).settings.data_path / "backups"


def list_archives(request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
    folder = backups_dir(request)
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.iterdir(), reverse=True):
        if ARCHIVE_NAME.match(path.name) and path.is_file():
            stat = path.stat()
            out.append({"name": path.name, "size": stat.st_size, "created_at": stat.st_mtime})
    return out


def archive_path(request: Request[Any, Any, Any], name: str) -> Path:
    """The archive called ``name`` inside the backups folder, or 404."""
    folder = backups_dir(request).resolve()
    if not ARCHIVE_NAME.match(name):
        raise NotFoundException(detail="no such backup")
    path = (folder / name).resolve()
    if path.parent != folder or not path.is_file():
        raise NotFoundException(detail="no such backup")
    return path


async def make_backup(request: Request[Any, Any, Any]) -> dict[str, Any]:
    state = gateway_state(request)
    data_dir = state.settings.data_path
    async with _lock:  # one backup at a time
        dest = default_archive(data_dir)
        if dest.exists():
            dest = dest.with_name(
                dest.name.replace(".tar.gz", f"-{int(time.time() * 1000) % 1000}.tar.gz")
            )
        try:
            manifest = await asyncio.to_thread(
                create_backup, data_dir, dest, config_path(), state.settings.host
            )
        except BackupError as exc:
            await audit(request, "backup.create", dest.name, ok=False, detail=str(exc))
            raise HTTPException(status_code=500, detail=str(exc)) from None
    await audit(request, "backup.create", dest.name, detail=f"{len(manifest['files'])} files")
    return {"name": dest.name, "size": dest.stat().st_size, "files": manifest["files"]}


@get("/api/v1/backups", guards=ADMIN, tags=["admin"], sync_to_thread=False)
def api_list_backups(request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
    """The archives in data_dir/backups, newest first."""
    return list_archives(request)


@post("/api/v1/backups", guards=ADMIN, tags=["admin"], status_code=201)
async def api_create_backup(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Make a consistent online backup of every database and the config now."""
    return await make_backup(request)


@get("/api/v1/backups/{name:str}", guards=ADMIN, tags=["admin"])
async def api_download_backup(request: Request[Any, Any, Any], name: str) -> File:
    """Download one archive by its file name."""
    path = archive_path(request, name)
    await audit(request, "backup.download", name)
    return File(path=path, filename=name, media_type="application/gzip")


@post("/settings/backups", guards=ADMIN, include_in_schema=False)
async def backup_form(
    request: Request[Any, Any, Any],
    data: Annotated[EmptyForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Template:
    from services.gateway.routes.settings import render

    try:
        made = await make_backup(request)
    except HTTPException as exc:
        return render(request, error=str(exc.detail), status=500)
    return render(request, notice=f"backup {made['name']} written")


BACKUP_ROUTES = [api_list_backups, api_create_backup, api_download_backup, backup_form]

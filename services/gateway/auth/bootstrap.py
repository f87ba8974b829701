"""First run: create the first admin, from an environment variable or a one-time password."""

from __future__ import annotations

import os
import secrets
import sys

from services.core.config.gateway import GatewaySettings
from services.core.logs import get_logger
from services.gateway.auth.store import AuthStore

log = get_logger("gateway")


async def ensure_admin(store: AuthStore, cfg: GatewaySettings) -> str | None:
    """Create the first admin when there are no users; returns a generated password, if any.

    A generated password is printed once on stderr (never logged to the file) and must
    be changed at the first login.
    """
    if store.users:
        return None
    from_env = cfg.admin_password or os.environ.get(cfg.admin_password_env, "")
    if from_env:
        await store.create_user(cfg.admin_user, from_env, "admin")
        log.info("first admin created from environment", user=cfg.admin_user)
        return None
    one_time = secrets.token_urlsafe(12)
    await store.create_user(cfg.admin_user, one_time, "admin", must_change=True)
    print(
        f"vigil gateway: first run - user '{cfg.admin_user}' created with the one-time "
        f"password  {one_time}  (log in and change it; set ${cfg.admin_password_env} "
        "to choose it instead)",
        file=sys.stderr,
        flush=True,
    )
    log.info("first admin created with a one-time password", user=cfg.admin_user)
    return one_time

"""Users, sessions, API keys and login lockout, kept in gateway.sqlite and mirrored in memory.

The gateway process is the only writer of gateway.sqlite, so the in-memory maps are
authoritative: a request is authenticated without touching the disk. Every change
writes the row first, then updates memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, delete, insert, select, update

from services.gateway.auth import tables as t
from services.gateway.auth.db import GatewayDb
from services.gateway.auth.records import (
    MIN_PASSWORD,
    NAME_RE,
    AuthError,
    KeyInfo,
    LoginResult,
    SessionInfo,
    UserInfo,
    check_role,
    sha256,
)
from services.gateway.security import CurrentUser

if TYPE_CHECKING:
    from argon2 import PasswordHasher


class AuthStore:
    """The in-memory view of users, sessions and keys over gateway.sqlite."""

    def __init__(
        self,
        db: GatewayDb,
        *,
        session_s: float = 12 * 3600,
        lockout_failures: int = 5,
        lockout_s: float = 900,
    ) -> None:
        self.db = db
        self.session_s = session_s
        self.lockout_failures = lockout_failures
        self.lockout_s = lockout_s
        self._hasher: PasswordHasher | None = None
        self.users: dict[str, UserInfo] = {}
        self.keys: dict[str, KeyInfo] = {}
        self.key_by_hash: dict[str, str] = {}
        self.sessions: dict[str, SessionInfo] = {}
        self.attempts: dict[str, tuple[int, float]] = {}
        self.secret = b""
        self._dummy_hash = ""
        self._key_uses: dict[str, float] = {}

    # ---------------------------------------------------------------- loading

    async def load(self) -> None:
        """Create the schema if needed and read everything into memory."""
        await self.db.run(lambda _e: self.db.create_schema())
        rows = await self.db.run(self._load_all)
        users, keys, sessions, attempts, secret = rows
        self.users = {u.name: u for u in users}
        self.keys = {k.id: k for k, _h in keys}
        self.key_by_hash = {h: k.id for k, h in keys}
        self.sessions = sessions
        self.attempts = attempts
        self.secret = bytes.fromhex(secret)

    def _load_all(self, engine: Engine) -> Any:
        now = time.time()
        with engine.begin() as conn:
            users = [
                UserInfo(r.name, r.role, r.created_at, bool(r.must_change), bool(r.disabled))
                for r in conn.execute(select(t.users))
            ]
            keys = [
                (
                    KeyInfo(
                        r.id,
                        r.name,
                        r.role,
                        r.created_by,
                        r.created_at,
                        r.revoked_at,
                        r.last_used_at,
                    ),
                    r.key_hash,
                )
                for r in conn.execute(select(t.api_keys))
            ]
            conn.execute(delete(t.sessions).where(t.sessions.c.expires_at < now))
            sessions = {
                r.token_hash: SessionInfo(r.user_name, r.expires_at)
                for r in conn.execute(select(t.sessions))
            }
            attempts = {
                r.name: (r.failures, r.locked_until) for r in conn.execute(select(t.login_attempts))
            }
            row = conn.execute(select(t.meta.c.value).where(t.meta.c.key == "secret")).first()
            if row is None:
                secret = secrets.token_hex(32)
                conn.execute(insert(t.meta).values(key="secret", value=secret))
            else:
                secret = row[0]
        return users, keys, sessions, attempts, secret

    # ---------------------------------------------------------------- users

    async def create_user(
        self, name: str, password: str, role: str, *, must_change: bool = False
    ) -> UserInfo:
        if not NAME_RE.match(name):
            raise AuthError("user name: 1-64 letters, digits or . _ @ -")
        checked = check_role(role)
        if name in self.users:
            raise AuthError(f"user {name!r} exists")
        if len(password) < MIN_PASSWORD:
            raise AuthError(f"password: at least {MIN_PASSWORD} characters")
        hashed = await asyncio.to_thread(self.hasher.hash, password)
        info = UserInfo(name, checked, time.time(), must_change)
        await self.db.run(
            lambda e: _exec(
                e,
                insert(t.users).values(
                    name=name,
                    password_hash=hashed,
                    role=checked,
                    created_at=info.created_at,
                    must_change=must_change,
                    disabled=False,
                ),
            )
        )
        self.users[name] = info
        return info

    async def set_role(self, name: str, role: str) -> None:
        checked = check_role(role)
        self._need_user(name)
        if self.users[name].role == "admin" and checked != "admin":
            self._keep_an_admin(name)
        await self.db.run(
            lambda e: _exec(e, update(t.users).where(t.users.c.name == name).values(role=checked))
        )
        self.users[name] = replace(self.users[name], role=checked)

    async def set_password(self, name: str, password: str, *, must_change: bool = False) -> None:
        self._need_user(name)
        if len(password) < MIN_PASSWORD:
            raise AuthError(f"password: at least {MIN_PASSWORD} characters")
        hashed = await asyncio.to_thread(self.hasher.hash, password)
        await self.db.run(
            lambda e: _exec(
                e,
                update(t.users)
                .where(t.users.c.name == name)
                .values(password_hash=hashed, must_change=must_change),
            )
        )
        self.users[name] = replace(self.users[name], must_change=must_change)

    async def delete_user(self, name: str) -> None:
        self._need_user(name)
        if self.users[name].role == "admin":
            self._keep_an_admin(name)

        def work(engine: Engine) -> None:
            with engine.begin() as conn:
                conn.execute(delete(t.users).where(t.users.c.name == name))
                conn.execute(delete(t.sessions).where(t.sessions.c.user_name == name))

        await self.db.run(work)
        del self.users[name]
        for token_hash, session in list(self.sessions.items()):
            if session.user_name == name:
                del self.sessions[token_hash]

    def _need_user(self, name: str) -> None:
        if name not in self.users:
            raise AuthError(f"no user {name!r}")

    def _keep_an_admin(self, leaving: str) -> None:
        admins = [u for u in self.users.values() if u.role == "admin" and u.name != leaving]
        if not admins:
            raise AuthError("the last admin cannot be removed or demoted")

    # ---------------------------------------------------------------- login

    def locked(self, name: str) -> bool:
        _failures, until = self.attempts.get(name, (0, 0.0))
        return until > time.time()

    async def login(self, name: str, password: str, remote: str = "") -> LoginResult:
        """Check a password; lock the name after ``lockout_failures`` consecutive failures."""
        name = name.strip()[:64]
        if self.locked(name):
            return LoginResult(False, reason="locked")
        user = self.users.get(name)
        stored = await self.db.run(lambda e: _password_hash(e, name)) if user else None
        good = await asyncio.to_thread(self._verify, stored, password)
        if not (good and user and stored and not user.disabled):
            await self._failed(name)
            locked = self.locked(name)
            return LoginResult(False, reason="locked" if locked else "bad_credentials")
        if name in self.attempts:
            await self.db.run(
                lambda e: _exec(e, delete(t.login_attempts).where(t.login_attempts.c.name == name))
            )
            self.attempts.pop(name, None)
        token = await self.new_session(name, remote)
        return LoginResult(True, token=token, user=user)

    async def check_password(self, name: str, password: str) -> bool:
        """True when ``password`` is the user's (no session, no lockout count)."""
        stored = await self.db.run(lambda e: _password_hash(e, name))
        return await asyncio.to_thread(self._verify, stored, password) and bool(stored)

    @property
    def hasher(self) -> PasswordHasher:
        """argon2, loaded by the first password hashed or checked: an idle gateway needs none."""
        if self._hasher is None:
            from argon2 import PasswordHasher

            self._hasher = PasswordHasher()
        return self._hasher

    def _verify(self, stored: str | None, password: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

        # A name without a password is checked against a dummy hash, so it takes as long as
        # a real check. The first check of either kind makes the dummy: the first is no tell.
        if not self._dummy_hash:
            self._dummy_hash = self.hasher.hash(secrets.token_hex(8))
        try:
            return self.hasher.verify(stored or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _failed(self, name: str) -> None:
        failures, _until = self.attempts.get(name, (0, 0.0))
        failures += 1
        until = time.time() + self.lockout_s if failures >= self.lockout_failures else 0.0
        if failures >= self.lockout_failures:
            failures = 0  # the next window starts fresh once the lock expires

        def work(engine: Engine) -> None:
            with engine.begin() as conn:
                conn.execute(delete(t.login_attempts).where(t.login_attempts.c.name == name))
                conn.execute(
                    insert(t.login_attempts).values(
                        name=name, failures=failures, locked_until=until
                    )
                )

        await self.db.run(work)
        self.attempts[name] = (failures, until)

    # ---------------------------------------------------------------- sessions

    async def new_session(self, name: str, remote: str = "") -> str:
        token = secrets.token_urlsafe(32)
        token_hash = sha256(token)
        now = time.time()
        expires = now + self.session_s
        await self.db.run(
            lambda e: _exec(
                e,
                insert(t.sessions).values(
                    token_hash=token_hash,
                    user_name=name,
                    created_at=now,
                    expires_at=expires,
                    remote=remote[:100],
                ),
            )
        )
        self.sessions[token_hash] = SessionInfo(name, expires)
        return token

    def session_user(self, token: str) -> CurrentUser | None:
        session = self.sessions.get(sha256(token))
        if session is None or session.expires_at < time.time():
            return None
        user = self.users.get(session.user_name)
        if user is None or user.disabled:
            return None
        return CurrentUser(name=user.name, role=user.role, via="session")

    async def end_session(self, token: str) -> None:
        token_hash = sha256(token)
        self.sessions.pop(token_hash, None)
        await self.db.run(
            lambda e: _exec(e, delete(t.sessions).where(t.sessions.c.token_hash == token_hash))
        )

    def csrf_token(self, binding: str) -> str:
        """The CSRF token bound to a session (or pre-login) cookie value."""
        return hmac.new(self.secret, binding.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, binding: str, presented: str) -> bool:
        return bool(binding and presented) and hmac.compare_digest(
            self.csrf_token(binding), presented
        )

    # ---------------------------------------------------------------- API keys

    async def create_key(self, name: str, role: str, created_by: str) -> tuple[KeyInfo, str]:
        """A new key; the secret is returned once and only its hash is kept."""
        checked = check_role(role)
        label = name.strip()[:80]
        if not label:
            raise AuthError("key name: required")
        key_id = secrets.token_hex(4)
        secret = f"vk_{key_id}_{secrets.token_urlsafe(32)}"
        key_hash = sha256(secret)
        info = KeyInfo(key_id, label, checked, created_by, time.time())
        await self.db.run(
            lambda e: _exec(
                e,
                insert(t.api_keys).values(
                    id=key_id,
                    key_hash=key_hash,
                    name=label,
                    role=checked,
                    created_by=created_by,
                    created_at=info.created_at,
                ),
            )
        )
        self.keys[key_id] = info
        self.key_by_hash[key_hash] = key_id
        return info, secret

    async def revoke_key(self, key_id: str) -> KeyInfo:
        info = self.keys.get(key_id)
        if info is None:
            raise AuthError(f"no API key {key_id!r}")
        if info.revoked_at:
            return info
        now = time.time()
        await self.db.run(
            lambda e: _exec(
                e, update(t.api_keys).where(t.api_keys.c.id == key_id).values(revoked_at=now)
            )
        )
        self.keys[key_id] = replace(info, revoked_at=now)
        return self.keys[key_id]

    def key_user(self, secret: str) -> CurrentUser | None:
        key_id = self.key_by_hash.get(sha256(secret))
        info = self.keys.get(key_id or "")
        if info is None or info.revoked_at:
            return None
        self._key_uses[info.id] = time.time()
        return CurrentUser(name=f"key:{info.name}", role=info.role, via="api_key")

    async def flush(self) -> None:
        """Write last-used times of keys and drop expired sessions (called periodically)."""
        uses, self._key_uses = self._key_uses, {}
        now = time.time()

        def work(engine: Engine) -> None:
            with engine.begin() as conn:
                for key_id, ts in uses.items():
                    conn.execute(
                        update(t.api_keys).where(t.api_keys.c.id == key_id).values(last_used_at=ts)
                    )
                conn.execute(delete(t.sessions).where(t.sessions.c.expires_at < now))

        await self.db.run(work)
        for key_id, ts in uses.items():
            if key_id in self.keys:
                self.keys[key_id] = replace(self.keys[key_id], last_used_at=ts)
        for token_hash, session in list(self.sessions.items()):
            if session.expires_at < now:
                del self.sessions[token_hash]


def _exec(engine: Engine, statement: Any) -> None:
    with engine.begin() as conn:
        conn.execute(statement)


def _password_hash(engine: Engine, name: str) -> str | None:
    with engine.begin() as conn:
        row = conn.execute(select(t.users.c.password_hash).where(t.users.c.name == name)).first()
    return row[0] if row else None

"""Deliver notices: webhook (HMAC-SHA256 signed), Slack-compatible webhook and e-mail, with retries.

Notices wait in a queue served by background tasks, so a slow or failing receiver
never blocks rule evaluation. Every attempt is written to the delivery log. A notice comes
from the outbox (services/alerts/outbox.py) and is marked done there once every endpoint
answered; each carries its ``delivery_id`` (header ``X-Vigil-Delivery-Id`` and the body) so
a receiver can drop the repeat that a crash between sending and marking causes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
import uuid
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from services.alerts.fatigue import Notice
from services.alerts.model import ReceiverConfig
from services.alerts.store import AlertStore
from services.core.logs import get_logger

if TYPE_CHECKING:
    import httpx

SIGNATURE_HEADER = "X-Vigil-Signature"
DELIVERY_ID_HEADER = "X-Vigil-Delivery-Id"
log = get_logger("alerts")


def sign(secret: str, body: bytes) -> str:
    """The signature header value: ``sha256=<hex HMAC-SHA256 of the body>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def notice_payload(notice: Notice) -> dict[str, Any]:
    keep = ("fingerprint", "rule", "severity", "state", "value", "labels", "summary")
    alerts = [
        {**{k: a.get(k) for k in keep}, "started_at": a.get("fired_at") or a.get("started_at"),
         "ended_at": a.get("ended_at"), "acked_by": a.get("acked_by", "")}
        for a in notice.alerts
    ]  # fmt: skip
    return {
        "delivery_id": notice.delivery_id,
        "receiver": notice.receiver,
        "kind": notice.kind,
        "group_key": notice.group_key,
        "ts": notice.created_at,
        "alerts": alerts,
    }


def notice_text(notice: Notice) -> str:
    lines = [f"[Vigil] {notice.kind}: {len(notice.alerts)} alert(s) ({notice.group_key})"]
    for a in notice.alerts:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(a["labels"].items()))
        value = "" if a.get("value") is None else f" value={a['value']:g}"
        head = f"- {a['severity'].upper()} {a['rule']} [{a['state']}]{value}"
        lines.append(f"{head} {labels} {a['summary']}".rstrip())
    # The idempotency id of this notification: a repeat after a crash has the same one.
    lines.append(f"delivery-id: {notice.delivery_id}")
    return "\n".join(lines)


class _Permanent(Exception):
    """A failure retrying cannot fix (e.g. HTTP 4xx)."""


class Deliverer:
    """The delivery queue and its workers."""

    def __init__(self, store: AlertStore, *, concurrency: int = 16) -> None:
        self.store = store
        self.receivers: dict[str, ReceiverConfig] = {}
        self.queue: asyncio.Queue[Notice] = asyncio.Queue()
        self.limit = asyncio.Semaphore(concurrency)
        # httpx (with the rich/click/pygments it pulls in, ~7 MB) and aiosmtplib are imported
        # by the first delivery that needs them: most installs idle with nothing to send.
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self.delivered = 0
        self.failed = 0

    def set_receivers(self, receivers: list[ReceiverConfig]) -> None:
        self.receivers = {r.name: r for r in receivers}

    def submit(self, notice: Notice) -> None:
        notice.delivery_id = notice.delivery_id or uuid.uuid4().hex
        self.queue.put_nowait(notice)

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name="alerts-deliverer")

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._client is not None:
            await self._client.aclose()

    @property
    def client(self) -> httpx.AsyncClient:
        """The HTTP client, made on first use (one pool for every webhook receiver)."""
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(follow_redirects=False)
        return self._client

    async def idle(self) -> None:
        """Wait until the queue is empty and no delivery is in flight (tests, shutdown)."""
        while not self.queue.empty() or self._tasks:
            await asyncio.sleep(0.01)

    async def _run(self) -> None:
        while True:
            notice = await self.queue.get()
            task = asyncio.create_task(self._deliver(notice))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, notice: Notice) -> None:
        async with self.limit:
            receiver = self.receivers.get(notice.receiver)
            if receiver is None:
                self._log(
                    notice, "unknown", notice.receiver, 1, "failed", None, "no such receiver", 0.0
                )
                self.failed += 1
                self._done(notice, "failed")
                return
            if notice.kind == "resolved" and not receiver.send_resolved:
                self._done(notice, "skipped")
                return
            endpoints = receiver.urls if receiver.kind != "email" else (",".join(receiver.to),)
            sent = await asyncio.gather(
                *(self._with_retries(receiver, notice, ep) for ep in endpoints)
            )
            self._done(notice, "ok" if all(sent) else "failed")

    def _done(self, notice: Notice, status: str) -> None:
        """Mark the outbox row: it is not sent again after a restart."""
        self.store.put("outbox_done", (notice.delivery_id, status, time.time()))

    async def _with_retries(self, receiver: ReceiverConfig, notice: Notice, endpoint: str) -> bool:
        attempts = receiver.retries + 1
        for attempt in range(1, attempts + 1):
            started = time.perf_counter()
            status: int | None = None
            try:
                status = await self._send_once(receiver, notice, endpoint)
            except _Permanent as exc:
                self._log(
                    notice,
                    receiver.kind,
                    endpoint,
                    attempt,
                    "failed",
                    status_of(exc),
                    str(exc),
                    started,
                )
                self.failed += 1
                return False
            except Exception as exc:
                last = attempt == attempts
                error = f"{type(exc).__name__}: {exc}"[:500]
                self._log(
                    notice,
                    receiver.kind,
                    endpoint,
                    attempt,
                    "failed" if last else "retry",
                    status_of(exc),
                    error,
                    started,
                )
                if last:
                    self.failed += 1
                    log.warning(
                        "delivery failed", receiver=receiver.name, endpoint=endpoint, error=error
                    )
                    return False
                await asyncio.sleep(receiver.backoff_s * 2 ** (attempt - 1))
                continue
            self._log(notice, receiver.kind, endpoint, attempt, "ok", status, "", started)
            self.delivered += 1
            return True
        return False

    async def _send_once(
        self, receiver: ReceiverConfig, notice: Notice, endpoint: str
    ) -> int | None:
        if receiver.kind == "email":
            await self._send_email(receiver, notice)
            return None
        if receiver.kind == "slack":
            body = json.dumps({"text": notice_text(notice)}, ensure_ascii=False).encode()
        else:
            body = json.dumps(notice_payload(notice), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            **receiver.headers,
            DELIVERY_ID_HEADER: notice.delivery_id,
        }
        if receiver.secret:
            headers[SIGNATURE_HEADER] = sign(receiver.secret, body)
        response = await self.client.post(
            endpoint, content=body, headers=headers, timeout=receiver.timeout_s
        )
        if response.status_code >= 500 or response.status_code == 429:
            raise _HttpError(response.status_code)
        if response.status_code >= 400:
            raise _Permanent(f"HTTP {response.status_code}")
        return response.status_code

    async def _send_email(self, receiver: ReceiverConfig, notice: Notice) -> None:
        message = EmailMessage()
        first = notice.alerts[0] if notice.alerts else {"severity": "", "rule": ""}
        message["Subject"] = f"[Vigil] {notice.kind}: {first['severity']} {first['rule']}" + (
            f" (+{len(notice.alerts) - 1})" if len(notice.alerts) > 1 else ""
        )
        message["From"] = receiver.sender
        message["To"] = ", ".join(receiver.to)
        # A repeat after a crash keeps its Message-ID: mail systems show it once.
        message["Message-ID"] = f"<{notice.delivery_id}@vigil>"
        message[DELIVERY_ID_HEADER] = notice.delivery_id
        message.set_content(notice_text(notice))
        import aiosmtplib

        await aiosmtplib.send(
            message,
            hostname=receiver.smtp_host,
            port=receiver.smtp_port,
            start_tls=receiver.starttls,
            username=receiver.username or None,
            password=receiver.password or None,
            timeout=receiver.timeout_s,
        )

    def _log(
        self, notice: Notice, channel: str, endpoint: str, attempt: int, status: str,
        http_status: int | None, error: str, started: float,
    ) -> None:  # fmt: skip
        self.store.put(
            "delivery",
            {
                "ts": time.time(),
                "receiver": notice.receiver,
                "channel": channel,
                "endpoint": endpoint,
                "kind": notice.kind,
                "attempt": attempt,
                "status": status,
                "http_status": http_status,
                "error": error,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else 0.0,
                "fingerprints": json.dumps([a["fingerprint"] for a in notice.alerts]),
            },
        )


class _HttpError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def status_of(exc: Exception) -> int | None:
    if isinstance(exc, _HttpError):
        return exc.status
    if isinstance(exc, _Permanent):
        with contextlib.suppress(ValueError, IndexError):
            return int(str(exc).split()[1])
    return None

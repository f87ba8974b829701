"""The NATS bus of one service: connect with backoff, streams, durable publish, consumers, RPC."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import msgspec
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, PubAck
from nats.js.client import JetStreamContext
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import Service

from services.core import contracts
from services.core.config import NatsSettings
from services.core.logs import get_logger
from services.core.streams import STREAMS, StreamSpec
from services.core.tasks import stop_tasks

T = TypeVar("T")
# A handler returns None (done: the batch is acked), or an awaitable that finishes the
# batch later: the batch is acked when it completes, and the next batch is fetched and
# handled meanwhile (``pipeline`` bounds how many are unfinished at once).
BatchHandler = Callable[[list[tuple[T, Msg]]], Awaitable[Awaitable[None] | None]]
RpcHandler = Callable[[bytes], Awaitable[Any]]

MAX_DEAD_PAYLOAD = 64_000
UNFINISHED_GRACE_S = 5.0  # a stopping consumer waits this long for pipelined batches


class BusUnavailable(Exception):
    """NATS could not be reached within the connect deadline."""


async def _connect(settings: NatsSettings, service: str, callbacks: tuple[Any, ...]) -> Client:
    on_disconnect, on_reconnect, on_error = callbacks
    return await nats.connect(
        servers=settings.servers,
        name=f"vigil-{service}",
        connect_timeout=settings.connect_timeout_s,
        reconnect_time_wait=min(1.0, settings.max_reconnect_wait_s),
        max_reconnect_attempts=-1,
        allow_reconnect=True,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        error_cb=on_error,
        user_credentials=settings.creds_file or None,
    )


class Bus:
    """One NATS connection with JetStream, the process's Codec, and its consumer tasks."""

    def __init__(self, nc: Client, service: str, codec: contracts.Codec) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.service = service
        self.codec = codec
        self.log = get_logger(service)
        self._tasks: list[asyncio.Task[None]] = []
        self._micro: list[Service] = []
        self._rewind: dict[str, str] = {}  # durable → stream of consumers rewound on reconnect
        self.dead_letters = 0
        self._closing = [False]
        # "p<k>" when this process serves one partition of its service's queries.
        self.rpc_partition = ""

    # ------------------------------------------------------------ connection

    @classmethod
    async def connect(
        cls,
        settings: NatsSettings,
        service: str,
        *,
        codec: contracts.Codec | None = None,
        deadline_s: float = 30.0,
    ) -> Bus:
        """Connect with exponential backoff until ``deadline_s``; after that, reconnect forever."""
        log = get_logger(service)
        delay = 0.1
        started = time.monotonic()
        last_error = ""
        closing = [False]

        async def on_disconnect() -> None:
            if not closing[0]:  # a disconnect we asked for is not news
                log.warning("nats disconnected")

        async def on_reconnect() -> None:
            log.info("nats reconnected")

        async def on_error(exc: Exception) -> None:
            log.debug("nats error", error=str(exc))

        callbacks = (on_disconnect, on_reconnect, on_error)
        while True:
            try:
                # nats-py retries the first connect forever when reconnects are on,
                # so the deadline of each try is ours.
                remaining = max(0.5, deadline_s - (time.monotonic() - started))
                nc = await asyncio.wait_for(_connect(settings, service, callbacks), remaining)
                bus = cls(nc, service, codec or contracts.Codec())
                bus._closing = closing
                return bus
            except TimeoutError:
                last_error = f"no server answered within {deadline_s:g} s"
            except (OSError, nats.errors.Error) as exc:
                last_error = str(exc) or type(exc).__name__
            if time.monotonic() - started + delay > deadline_s:
                raise BusUnavailable(
                    f"NATS unreachable at {', '.join(settings.servers)}: {last_error}"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, settings.max_reconnect_wait_s)

    async def close(self) -> None:
        """Stop consumers and micro services, then drain the connection."""
        self._closing[0] = True
        if not await stop_tasks(self._tasks):
            self.log.warning("consumer tasks did not stop; closing the connection anyway")
        for svc in self._micro:
            with contextlib.suppress(Exception):
                await svc.stop()
        if not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.drain(), timeout=3.0)
            if not self.nc.is_closed:
                await self.nc.close()

    async def __aenter__(self) -> Bus:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------ streams

    async def ensure_streams(
        self, specs: Sequence[StreamSpec] = STREAMS, replicas: int = 1
    ) -> None:
        """Create or update every stream; safe to call from several services at once."""
        for spec in specs:
            config = spec.config(replicas)
            try:
                await self.js.add_stream(config)
            except nats.js.errors.BadRequestError:
                # Exists with other settings: bring it to ours.
                await self.js.update_stream(config)

    # ------------------------------------------------------------ publishing

    async def publish(
        self,
        subject: str,
        event: msgspec.Struct,
        *,
        msg_id: str | None = None,
        timeout: float = 5.0,
    ) -> PubAck:
        """Durable publish: returns once JetStream stored it (or recognised a duplicate)."""
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        return await self.js.publish(
            subject, self.codec.encode(event), headers=headers, timeout=timeout
        )

    async def publish_retrying(
        self,
        subject: str,
        event: msgspec.Struct,
        *,
        msg_id: str,
        stop: asyncio.Event | None = None,
    ) -> PubAck | None:
        """Publish until acknowledged; the msg id makes every retry safe. None if stopped."""
        payload = self.codec.encode(event)
        delay = 0.05
        while stop is None or not stop.is_set():
            try:
                return await self.js.publish(
                    subject, payload, headers={"Nats-Msg-Id": msg_id}, timeout=5.0
                )
            except (TimeoutError, nats.errors.Error, nats.js.errors.Error) as exc:
                self.log.warning("publish retry", subject=subject, error=type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        return None

    async def emit(self, subject: str, event: msgspec.Struct) -> None:
        """Core NATS publish (fire and forget) for events that are not stored."""
        await self.nc.publish(subject, self.codec.encode(event))

    # ------------------------------------------------------------ consuming

    async def dead_letter(self, subject: str, data: bytes, reason: str) -> None:
        """Keep a message we cannot handle on ``vigil.dlq.<service>``; never raises."""
        self.dead_letters += 1
        self.log.error("dead-lettered message", subject=subject, reason=reason[:300])
        letter = contracts.DeadLetter(
            service=self.service,
            subject=subject,
            reason=reason[:2000],
            payload=data[:MAX_DEAD_PAYLOAD].decode("utf-8", "replace"),
            ts=time.time(),
        )
        with contextlib.suppress(Exception):
            await self.publish(contracts.dead_letter(self.service), letter, timeout=2.0)

    def consume(
        self,
        *,
        stream: str,
        durable: str,
        subjects: str | list[str],
        kind: type[T],
        handler: BatchHandler[T],
        batch: int = 256,
        max_deliver: int = 5,
        ack_wait_s: float = 30.0,
        deliver_new: bool = False,
        accept: Callable[[str], bool] | None = None,
        rewind: bool = False,
        pipeline: int = 1,
    ) -> asyncio.Task[None]:
        """Run a durable pull consumer in a task; ``handler`` gets decoded (event, msg) pairs.

        Messages are acked after the handler returns. ``rewind`` (a durable only this
        process reads) restarts the consumer at its ack floor at start and after each
        reconnect, so messages lost in flight come back in order (services/core/rewind.py).
        Undecodable messages are dead-lettered and terminated; a handler failure is retried
        (nak with delay) until ``max_deliver``, then dead-lettered. The loop never dies of a
        bad message. A message whose subject ``accept`` refuses (another partition's)
        is acked at once without being decoded. A handler that returns an awaitable finishes
        its batch there (see BatchHandler); at most ``pipeline`` batches are unfinished.
        """
        filters = [subjects] if isinstance(subjects, str) else subjects
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            max_deliver=max_deliver,
            ack_wait=ack_wait_s,
            max_ack_pending=max(batch * 4, 1000),
            deliver_policy=DeliverPolicy.NEW if deliver_new else DeliverPolicy.ALL,
        )
        if len(filters) == 1:
            config.filter_subject = filters[0]
        else:
            config.filter_subjects = filters
        if rewind:
            # services/core/rewind.py: at start and after each reconnect (one owner only).
            self._rewind[durable] = stream
        task = asyncio.create_task(
            self._consume_loop(
                stream, durable, config, kind, handler, batch, max_deliver, accept, pipeline
            ),
            name=f"consume-{durable}",
        )
        self._tasks.append(task)
        return task

    async def _consume_loop(
        self,
        stream: str,
        durable: str,
        config: ConsumerConfig,
        kind: type[T],
        handler: BatchHandler[T],
        batch: int,
        max_deliver: int,
        accept: Callable[[str], bool] | None = None,
        pipeline: int = 1,
    ) -> None:
        decoder = msgspec.json.Decoder(kind)
        sub = None
        while sub is None:
            try:
                sub = await self._bind(stream, durable, config)
            except (TimeoutError, nats.errors.Error, nats.js.errors.Error) as exc:
                self.log.warning("consumer bind failed; retrying", durable=durable, error=str(exc))
                await asyncio.sleep(1.0)
        unfinished: deque[asyncio.Task[None]] = deque()
        try:
            await self._fetch_loop(
                sub, durable, decoder, handler, batch, max_deliver, accept, pipeline, unfinished
            )
        finally:
            # Batches being finished (a commit on its thread) get a moment to finish and be
            # acked (until the stopper cancels again: stop_tasks repeats it every 0.25 s);
            # what is still unfinished then is not acked: it comes back, deduplicated.
            # Suppressed, so that a repeated cancel cannot skip the unsubscribe below.
            with contextlib.suppress(BaseException):
                if unfinished:
                    await asyncio.wait(list(unfinished), timeout=UNFINISHED_GRACE_S)
            with contextlib.suppress(BaseException):
                await stop_tasks(list(unfinished))
            # A fetch that timed out leaves the server's late replies (408 status messages) in
            # the subscription's queue; the connection's drain would then wait on them until its
            # timeout and leave an unretrieved CancelledError behind. Unprocessed messages
            # simply get redelivered, so drop the subscription first.
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _fetch_loop(
        self,
        sub: Any,
        durable: str,
        decoder: msgspec.json.Decoder[T],
        handler: BatchHandler[T],
        batch: int,
        max_deliver: int,
        accept: Callable[[str], bool] | None,
        pipeline: int,
        unfinished: deque[asyncio.Task[None]],
    ) -> None:
        reconnects = -1
        # The flag too, not only the cancel: a cancel swallowed inside fetch must not keep
        # the loop alive once the bus is closing (see stop_tasks).
        while not self._closing[0]:
            if durable in self._rewind and reconnects != self.nc.stats["reconnects"]:
                from services.core.rewind import rewind_orphans

                now = self.nc.stats["reconnects"]
                if await rewind_orphans(self, self._rewind[durable], durable) is not None:
                    reconnects = now  # else ask again before the next fetch
            try:
                msgs = await sub.fetch(batch, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except (nats.errors.Error, nats.js.errors.Error) as exc:
                self.log.warning("fetch failed", durable=durable, error=type(exc).__name__)
                await asyncio.sleep(0.5)
                continue
            good: list[tuple[T, Msg]] = []
            for msg in msgs:
                if accept is not None and not accept(msg.subject):
                    with contextlib.suppress(Exception):
                        await msg.ack()
                    continue
                try:
                    good.append((decoder.decode(msg.data), msg))
                except msgspec.DecodeError as exc:
                    await self.dead_letter(msg.subject, msg.data, f"undecodable: {exc}")
                    with contextlib.suppress(Exception):
                        await msg.term()
            if not good:
                continue
            # After the fetch and decode, not before: they overlap the commit being waited
            # for (measured: the backfill took 1.5-3 s longer the other way). The fetched
            # messages wait one unit at most, far inside their ack wait.
            while len(unfinished) >= pipeline:
                await unfinished.popleft()  # _finish never raises
            try:
                later = await handler(good)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._handler_failed(good, exc, max_deliver)
                continue
            if later is None:
                await self._ack_all(good)
            else:
                unfinished.append(asyncio.ensure_future(self._finish(later, good, max_deliver)))

    async def _finish(
        self, later: Awaitable[None], good: list[tuple[Any, Msg]], max_deliver: int
    ) -> None:
        """Ack a pipelined batch once its handler's completion is done (nak if it failed)."""
        try:
            await later
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._handler_failed(good, exc, max_deliver)
            return
        await self._ack_all(good)

    @staticmethod
    async def _ack_all(good: list[tuple[Any, Msg]]) -> None:
        for _, msg in good:
            with contextlib.suppress(Exception):
                await msg.ack()

    async def _bind(self, stream: str, durable: str, config: ConsumerConfig) -> Any:
        return await self.js.pull_subscribe(
            config.filter_subject or "", durable=durable, stream=stream, config=config
        )

    async def _handler_failed(
        self, good: list[tuple[Any, Msg]], exc: Exception, max_deliver: int
    ) -> None:
        self.log.exception("handler failed", error=repr(exc)[:300])
        for _, msg in good:
            with contextlib.suppress(Exception):
                delivered = msg.metadata.num_delivered if msg.metadata else 1
                if delivered >= max_deliver - 1:
                    await self.dead_letter(msg.subject, msg.data, f"handler failed: {exc!r}")
                    await msg.term()
                else:
                    await msg.nak(delay=min(2.0**delivered, 30.0))

    # ------------------------------------------------------------ request/reply

    async def serve(
        self,
        service: str,
        endpoints: dict[str, RpcHandler],
        *,
        version: str = "1.0.0",
        partition: str | None = None,
    ) -> Service:
        """Expose ``vigil.api.<service>.<method>`` endpoints as a NATS micro service.

        With a partition (``p1``; default ``self.rpc_partition``, which a partitioned
        service sets in its ``start``) the subjects are ``vigil.api.<service>.p1.<method>``
        and the service and queue group ``vigil-<service>-p1``. A handler returns a msgspec
        Struct, a dict/list, or bytes. Errors are answered with the micro error headers,
        never by crashing the loop.
        """
        partition = self.rpc_partition if partition is None else partition
        name = f"{service}-{partition}" if partition else service
        prefix = f"{contracts.PREFIX}.api.{contracts.token(service)}"
        prefix = f"{prefix}.{contracts.token(partition)}" if partition else prefix
        svc = await add_service(
            self.nc,
            name=f"vigil-{contracts.token(name)}",
            version=version,
            description=f"Vigil {name} queries",
            queue_group=f"vigil-{name}",
        )
        for method, handler in endpoints.items():
            await svc.add_endpoint(
                name=contracts.token(method),
                subject=f"{prefix}.{contracts.token(method)}",
                handler=self._rpc_wrapper(method, handler),
            )
        self._micro.append(svc)
        return svc

    def _rpc_wrapper(
        self, method: str, handler: RpcHandler
    ) -> Callable[[Request], Awaitable[None]]:
        async def wrapped(req: Request) -> None:
            try:
                result = await handler(req.data)
            except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
                await req.respond_error("400", str(exc)[:500])
                return
            except Exception as exc:
                self.log.exception("rpc failed", method=method, error=repr(exc)[:300])
                await req.respond_error("500", f"{type(exc).__name__}: {exc}"[:500])
                return
            if isinstance(result, bytes):
                await req.respond(result)
            else:
                await req.respond(self.codec.encoder.encode(result))

        return wrapped

    async def request(self, subject: str, payload: Any = None, *, timeout: float = 5.0) -> bytes:
        """Ask a micro endpoint; raise RpcError with the remote's code and description."""
        data = payload if isinstance(payload, bytes) else self.codec.encoder.encode(payload or {})
        reply = await self.nc.request(subject, data, timeout=timeout)
        headers = reply.headers or {}
        if "Nats-Service-Error-Code" in headers:
            raise RpcError(
                int(headers.get("Nats-Service-Error-Code", "500")),
                headers.get("Nats-Service-Error", "error"),
            )
        return reply.data


class RpcError(Exception):
    """A micro endpoint answered with an error."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description

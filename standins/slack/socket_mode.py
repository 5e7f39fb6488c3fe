"""Socket Mode: apps.connections.open and the websocket it hands out.

``apps.connections.open`` hands out a single-use ``ws://.../link/?ticket=...`` URL. On connect the stand-in sends
``hello``; ``send()`` (``SlackStandIn.socket_send``) then pushes an envelope (``slash_commands``, ``interactive``,
``events_api``) and waits for the app's ack ``{"envelope_id": ..., "payload": {...}}``. Pings are answered by
aiohttp's autoping. An ack later than 3 s is refused, as Slack counts it as no ack at all
(https://api.slack.com/apis/socket-mode#acknowledge).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from .core import APP_ID, Handler, Workspace

SOCKET_CLOSE_TIMEOUT = 2.0  # how long stop() waits for a client's close frame
# "Your app must respond ... within 3 seconds": https://api.slack.com/apis/socket-mode#acknowledge
# (Workspace.socket_ack_deadline starts at this.)
ACK_DEADLINE = 3.0


class SocketMode:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []  # open Socket Mode connections, oldest first
        self._pending_acks: dict[str, asyncio.Future[dict[str, Any]]] = {}

    def methods(self) -> dict[str, Handler]:
        return {"apps.connections.open": self.connections_open}

    def connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        # https://api.slack.com/methods/apps.connections.open : the app-level token only (server.APP_TOKEN_METHODS);
        # the URL it hands out is good for one connection.
        ticket = secrets.token_hex(16)
        self._tickets.add(ticket)
        ws_base = "ws" + self.ws.base_url.removeprefix("http")
        return {"url": f"{ws_base}/link/?ticket={ticket}&app_id={APP_ID}"}

    # The timeout argument is part of the interface the app's tests use, hence the noqa.
    async def send(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        accepts_response_payload: bool = True,
    ) -> dict[str, Any]:
        """Push one Socket Mode envelope to the app and return its ack (``{"envelope_id", "payload"?}``).

        Waits for a connection first; ``timeout`` covers both the wait and the ack. The newest open connection
        gets the envelope. Real Slack wants the ack within 3 s (``ws.socket_ack_deadline``) and otherwise retries
        (events_api) or shows the user an error (slash commands, interactions): an ack later than that raises
        AssertionError here, even within ``timeout``. The retries themselves are not played.
        """
        self.ws.require_started()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": 0,
            "retry_reason": "",
        }
        ack: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending_acks[envelope_id] = ack
        try:
            while not await self._deliver(envelope):
                if loop.time() >= deadline:
                    opened = len(self.ws.calls_to("apps.connections.open"))
                    raise AssertionError(
                        f"no Socket Mode connection within {timeout}s to deliver a {envelope_type} envelope "
                        f"(connections so far: {self.ws.socket_connections}, apps.connections.open calls: {opened})"
                    )
                await asyncio.sleep(0.01)
            delivered_at = loop.time()
            try:
                async with asyncio.timeout(max(0.0, deadline - loop.time())):
                    answer = await ack
            except TimeoutError:
                raise AssertionError(
                    f"no ack for {envelope_type} envelope {envelope_id} within {timeout}s "
                    f"(open connections: {len(self._sockets)}, last acks: {self.ws.socket_acks[-5:]})"
                ) from None
            late = loop.time() - delivered_at
            if late > self.ws.socket_ack_deadline:
                raise AssertionError(
                    f"the {envelope_type} envelope {envelope_id} was acked after {late:.1f}s; Slack wants the ack "
                    f"within {self.ws.socket_ack_deadline:g}s and treats a later one as none "
                    "(https://api.slack.com/apis/socket-mode#acknowledge)"
                )
            return answer
        finally:
            self._pending_acks.pop(envelope_id, None)

    def connected(self) -> bool:
        """Whether the app has a Socket Mode connection open (Slack then sends it events that way, not over HTTP)."""
        return any(not conn.closed for conn in self._sockets)

    async def push_event(self, payload: dict[str, Any], *, retry_attempt: int, retry_reason: str) -> str:
        """One delivery of an Events API event_callback as an ``events_api`` envelope.

        Returns "ok" when acked within ``ws.socket_ack_deadline``, "timeout" when not (the retry_reason Slack's next
        envelope carries; https://api.slack.com/apis/socket-mode), "no_connection" with no socket open.
        Unlike ``send()`` it never raises: a missed ack is what the Events API retries.
        """
        loop = asyncio.get_running_loop()
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": "events_api",
            "accepts_response_payload": False,  # events take no answer, only the ack
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }
        ack: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending_acks[envelope_id] = ack
        try:
            if not await self._deliver(envelope):
                return "no_connection"
            try:
                async with asyncio.timeout(self.ws.socket_ack_deadline):
                    await ack
            except TimeoutError:
                return "timeout"
            except AssertionError:  # the stand-in is stopping (close_sockets)
                return "no_connection"
            return "ok"
        finally:
            self._pending_acks.pop(envelope_id, None)

    async def handle_socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            # Tickets are single use: a reconnect must call apps.connections.open again.
            return web.Response(status=401, text="invalid_ticket")
        self._tickets.discard(ticket)
        conn = web.WebSocketResponse(autoping=True, timeout=SOCKET_CLOSE_TIMEOUT)
        await conn.prepare(request)
        self.ws.socket_connections += 1
        self._sockets.append(conn)
        try:
            await conn.send_json(
                {
                    "type": "hello",
                    "num_connections": len(self._sockets),
                    "debug_info": {
                        "host": "applink-standin",
                        "build_number": 1,
                        "approximate_connection_time": 18060,
                    },
                    "connection_info": {"app_id": APP_ID},
                }
            )
            async for msg in conn:
                if msg.type is WSMsgType.TEXT:
                    self._receive_ack(msg.data)
        finally:
            if conn in self._sockets:
                self._sockets.remove(conn)
        return conn

    def _receive_ack(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            return
        if not isinstance(message, dict) or "envelope_id" not in message:
            return
        self.ws.socket_acks.append(message)
        waiter = self._pending_acks.get(str(message["envelope_id"]))
        if waiter is not None and not waiter.done():
            waiter.set_result(message)

    async def _deliver(self, envelope: dict[str, Any]) -> bool:
        """Send to the newest open connection; False if there is none (or it went away meanwhile)."""
        for conn in reversed(self._sockets):
            if conn.closed:
                continue
            try:
                await conn.send_json(envelope)
            except ConnectionError:
                continue
            return True
        return False

    async def close_sockets(self, app: web.Application) -> None:
        self._tickets.clear()
        sockets, self._sockets = self._sockets, []
        for conn in sockets:
            await conn.close(code=1001, message=b"server shutdown")
        for waiter in self._pending_acks.values():
            if not waiter.done():
                waiter.set_exception(AssertionError("the Slack stand-in stopped before the ack arrived"))

"""An accepted WebSocket stays open only while its session does.

A WebSocket is authenticated once, at the handshake; a logout an hour later would otherwise
leave it open. `guard_websocket` runs the application with `receive` and `send` wrapped: when
a revocation covers the connection's token (or, with `websocket_close_on_expiry`, when the
token expires), the connection is closed with 1008 (RFC 6455 §7.4.1, policy violation), the
application's pending `receive()` returns `websocket.disconnect`, and whatever it sends
afterwards is dropped instead of raising inside the server.

When nothing can end the connection early (no revocation can ever reach this service, and no
expiry close is asked for), the application gets the server's own `receive` and `send`: no
task, future or lock per message.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fastapi_kc._claims import json_number
from fastapi_kc._errors import AuthError, InvalidTokenError
from fastapi_kc._principal import Principal
from fastapi_kc._responses import POLICY_VIOLATION, send_websocket_refusal
from fastapi_kc._revocations import SESSION_ENDED, RevocationList


async def guard_websocket(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    principal: Principal,
    revocations: RevocationList,
    close_on_expiry: bool,
    clock: Callable[[], float],
) -> None:
    """Run `app` for one WebSocket, closing it with 1008 once its token no longer counts."""
    claims = principal.claims
    expires = json_number(claims.get("exp")) if close_on_expiry else None
    if expires is None and not revocations.may_revoke:
        await app(scope, receive, send)  # nothing can end it early: a plain pass-through
        return
    loop = asyncio.get_running_loop()
    ended = asyncio.Event()
    cause: list[AuthError] = []
    closed = False
    send_lock = asyncio.Lock()
    pending: asyncio.Future[Message] | None = None

    def end(error: AuthError) -> None:
        if not cause:
            cause.append(error)
            ended.set()

    watch = revocations.watch(
        principal.session_id,
        principal.subject,
        json_number(claims.get("iat")),
        lambda: end(InvalidTokenError(SESSION_ENDED, reason="revoked")),
    )
    timer = None
    if expires is not None:
        expired = InvalidTokenError("token has expired", reason="expired")
        timer = loop.call_later(max(0.0, expires - clock()), end, expired)

    async def close() -> None:
        nonlocal closed
        async with send_lock:
            if not closed:
                closed = True
                await send_websocket_refusal(send, cause[0])

    async def guarded_send(message: Message) -> None:
        nonlocal closed
        async with send_lock:
            if closed:
                return  # closed under the application's feet: its messages have nowhere to go
            if message["type"] == "websocket.close":
                closed = True
            await send(message)

    async def guarded_receive() -> Message:
        nonlocal pending
        if not ended.is_set():
            # One receive in flight at a time, kept across calls: never cancelled half-way.
            pending = pending or asyncio.ensure_future(receive())
            waiter = asyncio.ensure_future(ended.wait())
            racing: set[asyncio.Future[Any]] = {pending, waiter}
            done, _ = await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
            if pending in done:
                waiter.cancel()
                message, pending = pending.result(), None
                return message
        await close()
        return {"type": "websocket.disconnect", "code": POLICY_VIOLATION}

    async def closer() -> None:
        await ended.wait()
        await close()

    watcher = loop.create_task(closer())
    try:
        await app(scope, guarded_receive, guarded_send)
    finally:
        revocations.unwatch(watch)
        if timer is not None:
            timer.cancel()
        for task in (watcher, pending):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

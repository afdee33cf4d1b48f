"""A bound on how long a client may take to send one whole request (headers and body).

uvicorn's httptools protocol closes idle keep-alive connections (`timeout_keep_alive`), but it
has no bound for a client that connects and sends nothing, or sends its headers or body a byte at
a time (slowloris): each such connection is held for as long as the client likes, and any byte
cancels the keep-alive timer. `protocol_with_request_deadline` returns uvicorn's protocol with
one timer more: it runs from the connection's first moment (or a request's first byte) until the
request has been received whole. When it fires before that, the client gets 408 (unless an answer
has already started) and the connection is closed. The time the model takes to answer is not
bounded here: the timer stops once the request is in.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_TIMEOUT_BODY = b'{"error": "the request was not received in time; send it whole at once"}'
_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: application/json\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _TIMEOUT_BODY
)


def protocol_with_request_deadline(seconds: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, closing a connection whose request is not in within `seconds`."""
    if seconds <= 0:
        raise ValueError("the request deadline must be a positive number of seconds")

    class RequestDeadlineProtocol(HttpToolsProtocol):  # type: ignore[misc]  # uvicorn's is untyped here
        request_deadline = seconds

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._deadline is None:
                self._arm()  # a request's first bytes: it must be in whole within the bound
            super().data_received(data)

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._deadline = self.loop.call_later(self.request_deadline, self._on_deadline)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _on_deadline(self) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            cycle = self.cycle
            if cycle is None or cycle.response_complete or not cycle.response_started:
                self.transport.write(_REQUEST_TIMEOUT)  # no answer is on its way on this connection
            self.transport.close()

    return RequestDeadlineProtocol

"""The real app served by uvicorn on a loopback port, in a background thread of the test process.

Interop tests take none of the in-process shortcuts (ASGI transport, Authlib on both sides): a client
written with other libraries reaches the hub the way an outside system does, over a socket. The thread
shares the test's process, so tests still seed data through ``hub.session_factory``.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import uvicorn

from hub.context import Hub
from hub.main import create_app

STARTUP_TIMEOUT_SECONDS = 10
SHUTDOWN_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class LiveHub:
    """A hub answering at ``url`` (``http://127.0.0.1:<port>``, which is also its ``public_url``)."""

    hub: Hub
    url: str


def loopback_socket() -> tuple[socket.socket, str]:
    """A socket bound to a free loopback port, and the base URL it answers at.

    Bound before the hub's settings are made, so ``public_url`` names the port the server really
    listens on; 127.0.0.1 because Authlib accepts plain http only for localhost addresses."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


class ServerThread:
    """uvicorn serving ``create_app(hub=hub)`` on ``sock`` until :meth:`stop`."""

    def __init__(self, hub: Hub, sock: socket.socket) -> None:
        config = uvicorn.Config(create_app(hub=hub), log_level="warning", lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=SHUTDOWN_TIMEOUT_SECONDS)
        assert not self.thread.is_alive(), "uvicorn did not stop"

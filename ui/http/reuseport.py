"""`kanmin serve --workers N`: every worker listens on a socket of its own (SO_REUSEPORT).

uvicorn's supervisor binds one socket and hands it to every worker, and a worker that wakes up
accepts every pending connection at once (asyncio's accept loop): a client that opens its keep-alive
connections together (a proxy's pool, a load generator) can find all of them on one worker while the
other idles — measured with 16 connections: 1 run in 4 put 323 of 326 answers on one worker. With one
socket per worker in a SO_REUSEPORT group, the kernel spreads new connections over the workers by a
hash of their addresses. A worker binds its socket but listens only when uvicorn starts serving,
after the app's start-up, so with KANMIN_SERVE_WHEN_READY a worker still loading gets no connection.
The supervisor (uvicorn's: restarts, signals, health pings) is unchanged; it only builds its worker
processes from the class below.
"""
from __future__ import annotations

import logging
import socket

from uvicorn.config import Config
from uvicorn.supervisors import multiprocess

from ingest.errors import InvalidInput

log = logging.getLogger("kanmin.serve")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port in the port's SO_REUSEPORT group, not yet listening."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class ReusePortWorker(multiprocess.Process):
    """A uvicorn worker process that serves on its own socket instead of the supervisor's."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # pragma: no cover - in the child
        super().target([reuseport_socket(self.config.host, self.config.port)])


def run_workers(config: Config) -> None:
    """Run ``config.workers`` workers under uvicorn's supervisor, each on its own SO_REUSEPORT socket.

    The port is checked free before any worker starts; the supervisor then holds a bound, never
    listening, socket of the group, which keeps the port from other programs (and from a second
    `kanmin serve`) and receives no connection (only listening sockets do)."""
    try:
        # a plain bind first: SO_REUSEPORT alone would let a second `kanmin serve` on this port join
        # the first one's group and share its connections instead of failing
        with socket.socket(_family(config.host), socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((config.host, config.port))
        guard = reuseport_socket(config.host, config.port)
    except OSError as exc:  # taken (by another program or another kanmin), or a bad address: one clear error
        raise InvalidInput("port_unavailable",
                           f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from None
    log.info("serving", extra={"fields": {"host": config.host, "port": config.port, "workers": config.workers,
                                          "listen": "one SO_REUSEPORT socket per worker"}})
    builtin = multiprocess.Process
    multiprocess.Process = ReusePortWorker  # the supervisor builds (and rebuilds) its workers from this name
    try:
        multiprocess.Multiprocess(config, sockets=[]).run()
    finally:
        multiprocess.Process = builtin
        guard.close()

"""Ports for the tests' own servers, taken below the kernel's range of ephemeral ports.

A port found free by binding to port 0 comes from the ephemeral range, which is also where every outgoing
connection gets its local port: between finding it and a server binding it, one of the many connections a test
opens (to the Bot API emulator, the database, a worker) can take it, and the server then fails with "address
already in use". Below that range no outgoing connection ever lands.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

WINDOW = 10_000


def _candidates() -> itertools.cycle[int]:
    try:
        first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first_ephemeral = 32768
    low = max(1024, first_ephemeral - WINDOW)
    ports = list(range(low, first_ephemeral))
    # Each xdist worker walks its own share of the window: two workers of one run never hand out the same port.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if worker.startswith("gw") and worker[2:].isdigit() and workers > 1:
        ports = ports[int(worker[2:]) % workers :: workers]
    start = random.randrange(len(ports))  # two test runs at once rarely walk the same ports
    return itertools.cycle(ports[start:] + ports[:start])


_ports = _candidates()


def free_port() -> int:
    """A loopback port no one listens on now, never handed out twice in a run (until all have been)."""
    for _ in range(WINDOW):
        port = next(_ports)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


@asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[str]:
    """The app served on a free loopback port while the block runs: its base URL, http://127.0.0.1:<port>."""
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()

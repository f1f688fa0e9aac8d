"""A tiny load balancer for the workers benchmark: ``python -m bench.balancer PORT WORKER_URL...``.

It listens on 127.0.0.1:PORT and sends each request to the next worker in turn (round robin, as nginx does
by default), over kept-alive connections, passing the secret token header on; the worker's answer goes back
as it is. On SIGTERM it prints how many requests each worker got, as one JSON line, and exits. The same
idea as the balancer in tests/flows/test_two_workers.py, in a process of its own so that its CPU time is
not the benchmark's.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import sys
from collections import Counter

import aiohttp
from aiohttp import web

HOP_BY_HOP = {"host", "content-length", "connection", "keep-alive", "transfer-encoding"}
COUNTS_PREFIX = "balanced: "


async def balance(port: int, workers: list[str]) -> Counter[str]:
    picked: Counter[str] = Counter()
    turn = itertools.cycle(workers)
    client = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def forward(request: web.Request) -> web.Response:
        worker = next(turn)
        picked[worker] += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        try:
            async with client.request(
                request.method, worker + request.path_qs, data=await request.read(), headers=headers
            ) as answer:
                return web.Response(status=answer.status, body=await answer.read(), content_type=answer.content_type)
        except aiohttp.ClientError:
            return web.Response(status=502)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app, access_log=None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await client.close()
    return picked


def read_counts(log_text: str) -> dict[str, int]:
    """The counts a stopped balancer printed (empty if it printed none)."""
    for line in reversed(log_text.splitlines()):
        if line.startswith(COUNTS_PREFIX):
            return {str(k): int(v) for k, v in json.loads(line.removeprefix(COUNTS_PREFIX)).items()}
    return {}


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m bench.balancer PORT WORKER_URL...", file=sys.stderr)
        return 2
    picked = asyncio.run(balance(int(argv[0]), argv[1:]))
    print(COUNTS_PREFIX + json.dumps({worker: picked[worker] for worker in argv[1:]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

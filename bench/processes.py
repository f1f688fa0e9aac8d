"""A bot under test as a subprocess: started, awaited until it polls, measured, and stopped cleanly.

CPU time is read from the kernel's own counters for the bot's process (/proc/<pid>/stat), so the
figures are the bot's alone: the emulator and the load generator run in the benchmark's process.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from emulator import BotApiEmulator

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1
# Looked up here, in the parent: the child may only call it between fork and exec.
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def _terminate_with_parent() -> None:
    """In the child before exec: the kernel sends it SIGTERM when the benchmark dies, however it dies.

    The benchmark stops its bots itself; this covers a second Ctrl-C or a kill -9, which would
    otherwise leave a bot polling a vanished emulator for ever.
    """
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class BotFailed(RuntimeError):
    """The bot under test did not start, or died while it was being measured."""


READY_CHECK_SECONDS = 0.02


class Readiness:
    """When a started process counts as up: made before the process is spawned, checked until true."""

    def __init__(self, what: str, check: Callable[[], Awaitable[bool]]) -> None:
        self.what = what
        self.check = check


def calls_since_now(emu: BotApiEmulator, method: str) -> Callable[[], bool]:
    """True once the bot has called method on the emulator (counting only calls made from now on)."""
    calls_before = len(emu.calls)
    return lambda: any(name == method for name, _ in emu.calls[calls_before:])


def free_port() -> int:
    """A loopback port that is free now (another process could take it before it is used: unlikely here)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def port_open(port: int) -> bool:
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def polls(emu: BotApiEmulator) -> Readiness:
    """Up once it calls getUpdates."""
    called = calls_since_now(emu, "getUpdates")

    async def check() -> bool:
        return called()

    return Readiness("poll", check)


def serves_webhook(emu: BotApiEmulator, port: int) -> Readiness:
    """Up once it has called setWebhook and its web server takes connections (daifu sets the webhook first)."""
    called = calls_since_now(emu, "setWebhook")

    async def check() -> bool:
        return called() and await port_open(port)

    return Readiness("set its webhook and listen", check)


def listens(port: int) -> Readiness:
    async def check() -> bool:
        return await port_open(port)

    return Readiness(f"listen on port {port}", check)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, all its threads included (aiosqlite works in a thread)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) is in parentheses and may hold spaces, so count from after it:
    # utime and stime are fields 14 and 15, that is the 12th and 13th after the ")".
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU time spent by the whole machine, all cores, on anything but idling (from /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    # user nice system idle iowait irq softirq steal (guest time is already counted in user)
    idle = values[3] + values[4]
    return (sum(values) - idle) / CLOCK_TICKS


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class BotProcess:
    """One bot process; its output goes to a log file, shown when something goes wrong."""

    def __init__(self, name: str, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log_path: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_path
        self._process: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None, "the bot is not started"
        return self._process.pid

    async def start(self, ready: Readiness, *, timeout: float) -> None:
        """Start the process and return once ready() says it is (say, once it polls the emulator)."""
        self._log = self.log_path.open("wb")
        self._process = await asyncio.create_subprocess_exec(
            *self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=asyncio.subprocess.STDOUT,
            preexec_fn=_terminate_with_parent,
        )
        deadline = asyncio.get_running_loop().time() + timeout
        while not await ready.check():
            self.check_alive()
            if asyncio.get_running_loop().time() > deadline:
                raise BotFailed(f"{self.name} did not {ready.what} within {timeout:g}s\n{self.log_tail()}")
            # Short waits, so a bot that dies at start is reported at once rather than at the deadline.
            await asyncio.sleep(READY_CHECK_SECONDS)

    def check_alive(self) -> None:
        if self._process is not None and self._process.returncode is not None:
            raise BotFailed(f"{self.name} exited with code {self._process.returncode}\n{self.log_tail()}")

    def cpu_seconds(self) -> float:
        self.check_alive()
        return cpu_seconds(self.pid)

    def peak_rss_mb(self) -> float:
        self.check_alive()
        return peak_rss_mb(self.pid)

    async def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (the bots finish the updates in hand and confirm them), then SIGKILL after timeout."""
        process, self._process = self._process, None
        try:
            if process is None:
                return None
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                try:
                    async with asyncio.timeout(timeout):
                        await process.wait()
                except TimeoutError:
                    process.kill()
                    await process.wait()
            return process.returncode
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no output)"
        tail = text.splitlines()[-lines:]
        return "\n".join(f"  {self.name}| {line}" for line in tail) or "(no output)"


class ProcessGroup:
    """Several processes measured as one (the workers behind a load balancer): CPU time is their sum."""

    def __init__(self, name: str, processes: Sequence[BotProcess]) -> None:
        self.name = name
        self.processes = list(processes)

    def cpu_seconds(self) -> float:
        return sum(process.cpu_seconds() for process in self.processes)

    def check_alive(self) -> None:
        for process in self.processes:
            process.check_alive()

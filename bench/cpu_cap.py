"""``--worker-cpu``: each daifu worker held to a share of one core by a cgroup of its own.

The issue asks for the two-worker figure "when the Bot API emulator runs elsewhere": on a 2-core machine the
workers otherwise share their cores with the emulator, the load generator, the balancer and PostgreSQL, so a
second worker mostly takes CPU from them. Capping every worker at, say, half a core leaves the rest of the
machine a core of its own: the workers, not what serves them, are then what limits the rate, as when the rest
runs on other machines. One worker and two are capped alike, so their ratio is the workers' scaling.

The kernel does the capping (CFS bandwidth control); this only writes the cgroup files, for cgroup v1 (the
cpu controller's own hierarchy) or v2 (the unified one). Needs root, like any cgroup.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000


class CpuCapUnavailable(RuntimeError):
    """This machine does not let the benchmark make a cgroup with a CPU quota."""


def _hierarchy() -> tuple[Path, bool]:
    """Where cpu cgroups are made, and whether it is the unified (v2) hierarchy."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return CGROUP_ROOT, True
    if (CGROUP_ROOT / "cpu" / "cpu.cfs_quota_us").exists():
        return CGROUP_ROOT / "cpu", False
    raise CpuCapUnavailable(f"no cgroup cpu controller under {CGROUP_ROOT}")


class CpuCap:
    """A cgroup whose processes share at most `cores` of CPU time; removed by close()."""

    def __init__(self, name: str, cores: float) -> None:
        root, self._unified = _hierarchy()
        self.cores = cores
        self.path = root / name
        quota = max(1000, round(cores * PERIOD_US))
        try:
            if self._unified and "cpu" not in (root / "cgroup.subtree_control").read_text().split():
                (root / "cgroup.subtree_control").write_text("+cpu")
            self.path.mkdir(exist_ok=True)
            if self._unified:
                (self.path / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            else:
                (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (self.path / "cpu.cfs_quota_us").write_text(str(quota))
        except OSError as error:
            with contextlib.suppress(OSError):
                self.path.rmdir()
            raise CpuCapUnavailable(f"could not set a CPU quota in {self.path}: {error}") from error
        self._root = root

    def add(self, pid: int) -> None:
        """Move the process (all its threads) into the cgroup."""
        (self.path / "cgroup.procs").write_text(str(pid))

    def throttled_seconds(self) -> float:
        """How long the kernel held the cgroup's processes back for having used their quota."""
        for line in (self.path / "cpu.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "throttled_usec":
                return int(value) / 1e6
            if key == "throttled_time":  # v1, in nanoseconds
                return int(value) / 1e9
        return 0.0

    def close(self) -> None:
        """Move any process left back to the root cgroup, then remove this one."""
        with contextlib.suppress(OSError):
            for pid in (self.path / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    (self._root / "cgroup.procs").write_text(pid)
        with contextlib.suppress(OSError):
            self.path.rmdir()


def cap_name(label: str) -> str:
    return f"daifu-bench-{os.getpid()}-{label}"

"""How much memory each learner's processes hold (their PostgreSQL, PostgREST, Caddy, Jupyter server
and kernels), read from Linux's /proc as root. PSS counts a page shared by n processes as 1/n in each,
so learners' figures add up to what the machine really spends on them."""

from __future__ import annotations

import contextlib
import pwd
import threading
from pathlib import Path


def _uid(pid_dir: Path) -> int | None:
    for line in (pid_dir / "status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    return None


def _pids() -> list[Path]:
    return [entry for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def processes_of(uid: int) -> list[str]:
    """The command lines of the processes running as `uid`."""
    found = []
    for pid_dir in _pids():
        with contextlib.suppress(OSError, ValueError):
            if _uid(pid_dir) == uid:
                found.append((pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip())
    return found


def processes_running(fragment: str) -> list[str]:
    found = []
    for pid_dir in _pids():
        with contextlib.suppress(OSError):
            command = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if fragment in command:
                found.append(command.strip())
    return found


def pss_by_uid(uids: set[int]) -> dict[int, int]:
    """Bytes of PSS per uid, summed over that uid's processes."""
    totals = dict.fromkeys(uids, 0)
    for pid_dir in _pids():
        with contextlib.suppress(OSError, ValueError):
            uid = _uid(pid_dir)
            if uid in totals:
                for line in (pid_dir / "smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        totals[uid] += int(line.split()[1]) * 1024
                        break
    return totals


class Sampler:
    """Samples every learner's PSS in a thread while the `with` block runs; `peak` per name after."""

    def __init__(self, uids: dict[str, int], interval: float = 1.0):
        self.uids, self.interval = uids, interval
        self.peak = dict.fromkeys(uids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            totals = pss_by_uid(set(self.uids.values()))
            for name, uid in self.uids.items():
                self.peak[name] = max(self.peak[name], totals[uid])
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def mib(size: int) -> int:
    return round(size / 2**20)


def pwd_uid(name: str) -> int:
    return pwd.getpwnam(name).pw_uid

"""How much memory each learner's processes hold (their PostgreSQL, PostgREST, Caddy, Jupyter server
and kernels), as root, through psutil. PSS counts a page shared by n processes as 1/n in each, so
learners' figures add up to what the machine really spends on them."""

from __future__ import annotations

import contextlib
import threading

import psutil

GONE = (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess)


def processes_of(uid: int) -> list[str]:
    """The command lines of the processes running as `uid`."""
    found = []
    for process in psutil.process_iter(["uids", "cmdline"]):
        with contextlib.suppress(*GONE):
            if process.info["uids"] and process.info["uids"].real == uid:
                found.append(" ".join(process.info["cmdline"] or []))
    return found


def processes_running(fragment: str) -> list[str]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if fragment in command:
            found.append(command)
    return found


def pss_by_uid(uids: set[int]) -> dict[int, int]:
    """Bytes of PSS per uid, summed over that uid's processes."""
    totals = dict.fromkeys(uids, 0)
    for process in psutil.process_iter(["uids"]):
        with contextlib.suppress(*GONE):
            uid = process.info["uids"].real if process.info["uids"] else None
            if uid in totals:
                totals[uid] += process.memory_full_info().pss
    return totals


PARTS = (("ipykernel", "kernels"), ("jupyterhub-singleuser", "Jupyter server"), ("postgrest", "PostgREST"),
         ("postgres", "PostgreSQL"), ("caddy", "Caddy"))  # fmt: skip


def pss_by_part(uid: int) -> dict[str, int]:
    """Bytes of PSS of one uid's processes, by what they are (the first PARTS fragment in the command)."""
    parts: dict[str, int] = {}
    for process in psutil.process_iter(["uids", "cmdline"]):
        with contextlib.suppress(*GONE):
            if process.info["uids"] and process.info["uids"].real == uid:
                command = " ".join(process.info["cmdline"] or [])
                part = next((name for fragment, name in PARTS if fragment in command), "other")
                parts[part] = parts.get(part, 0) + process.memory_full_info().pss
    return parts


class Sampler:
    """Samples every learner's PSS in a thread while the `with` block runs; after it, per name: `peak` and
    `last` PSS, and `cpu_seconds`, the CPU time (user + system) their processes spent in the block
    (a process that ended between two samples loses its last interval)."""

    def __init__(self, uids: dict[str, int], interval: float = 1.0):
        self.uids, self.interval = uids, interval
        self.peak = dict.fromkeys(uids, 0)
        self.last = dict.fromkeys(uids, 0)
        self.cpu_seconds = dict.fromkeys(uids, 0.0)
        self._first: dict[int, float] | None = None  # CPU of the processes already running at the start
        self._cpu: dict[int, tuple[int, float]] = {}  # pid: (uid, its latest CPU seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _once(self) -> None:
        wanted = set(self.uids.values())
        totals = dict.fromkeys(wanted, 0)
        cpu = {}
        for process in psutil.process_iter(["uids"]):
            with contextlib.suppress(*GONE):
                uid = process.info["uids"].real if process.info["uids"] else None
                if uid in wanted:
                    totals[uid] += process.memory_full_info().pss
                    times = process.cpu_times()
                    cpu[process.pid] = (uid, times.user + times.system)
        if self._first is None:
            self._first = {pid: seconds for pid, (_, seconds) in cpu.items()}
        self._cpu.update(cpu)
        for name, uid in self.uids.items():
            self.peak[name] = max(self.peak[name], totals[uid])
            self.last[name] = totals[uid]
            self.cpu_seconds[name] = sum(
                seconds - self._first.get(pid, 0.0) for pid, (owner, seconds) in self._cpu.items() if owner == uid
            )

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._once()
        self._once()

    def __enter__(self) -> Sampler:
        # The baseline is taken here, before the block runs: taken by the thread, it could come late
        # (a busy block holds the GIL), and the CPU spent meanwhile would count as already spent.
        self._once()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def uid_of(name: str) -> int:
    import pwd  # Unix only, like the workshop server

    return pwd.getpwnam(name).pw_uid


def mib(size: int) -> int:
    return round(size / 2**20)

"""Measuring a process tree: wall time, CPU time and peak resident memory (psutil).

:func:`run_measured` starts a command in a subprocess and samples its whole process tree (the Python
process and every child it starts, e.g. dbt) every 0.1 s; the CPU time it reports is exact (the
kernel's accounting of the reaped tree), the memory is the sampled peak.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil


@dataclass
class Sample:
    t: float          # wall clock (time.time())
    rss: int          # resident bytes of the whole process tree
    cpu: float        # CPU seconds of the tree so far (user + system, reaped children included)
    largest: int      # resident bytes of the largest single process


def tree_sample(root: int) -> Sample | None:
    """One sample of the tree under ``root`` (None when the root has exited)."""
    try:
        top = psutil.Process(root)
        procs = [top, *top.children(recursive=True)]
    except psutil.Error:
        return None
    rss: list[int] = []
    cpu = 0.0
    for proc in procs:
        try:
            with proc.oneshot():
                rss.append(proc.memory_info().rss)
                t = proc.cpu_times()
                cpu += t.user + t.system + getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)
        except psutil.Error:  # exited between listing and reading
            continue
    if not rss:
        return None
    return Sample(time.time(), sum(rss), cpu, max(rss))


class TreeSampler(threading.Thread):
    """Samples a process tree's resident memory and CPU time every ``interval`` seconds."""

    def __init__(self, root: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.samples: list[Sample] = []
        self._stop_event = threading.Event()

    def sample(self) -> None:
        s = tree_sample(self.root)
        if s is not None:
            self.samples.append(s)

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def peak_mb(self) -> float:
        return round(max((s.rss for s in self.samples), default=0) / 2**20, 1)

    def window(self, start: float, end: float) -> dict[str, float]:
        """Peak tree memory (MB) and CPU seconds between two wall-clock times."""
        inside = [s for s in self.samples if start <= s.t <= end]
        before = [s for s in self.samples if s.t <= start]
        after = [s for s in self.samples if s.t >= end]
        cpu0 = before[-1].cpu if before else (inside[0].cpu if inside else 0.0)
        cpu1 = after[0].cpu if after else (inside[-1].cpu if inside else cpu0)
        return {"peak_mb": round(max((s.rss for s in inside), default=0) / 2**20, 1),
                "cpu_s": round(max(0.0, cpu1 - cpu0), 1)}


def loadavg() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


def mem_gb() -> float:
    return round(psutil.virtual_memory().total / 2**30, 1)


@dataclass
class Measured:
    label: str
    returncode: int
    wall_s: float
    cpu_s: float
    peak_mb: float           # whole process tree (sampled)
    largest_mb: float        # largest single process (sampled)
    load_before: float
    load_after: float
    result: dict[str, Any] = field(default_factory=dict)
    log: str = ""

    def brief(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("result")
        return out


def run_measured(label: str, args: list[str], env: dict[str, str], log_path: Path,
                 result_path: Path | None = None, interval: float = 0.1) -> tuple[Measured, TreeSampler]:
    """Run ``args`` in a subprocess (output to ``log_path``) and measure its process tree.

    ``result_path``: a JSON file the command writes; it is read back into ``Measured.result``.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    load_before = loadavg()
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.time()
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        sampler = TreeSampler(proc.pid, interval)
        sampler.start()
        returncode = proc.wait()
        sampler.stop()
    wall = time.time() - started
    # exact CPU of the whole tree: every process in it was reaped by the time the root exits
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    result: dict[str, Any] = {}
    if result_path is not None and result_path.exists():
        result = json.loads(result_path.read_text(encoding="utf-8"))
    measured = Measured(
        label=label, returncode=returncode, wall_s=round(wall, 2), cpu_s=round(cpu, 1),
        peak_mb=sampler.peak_mb(),
        largest_mb=round(max((s.largest for s in sampler.samples), default=0) / 2**20, 1),
        load_before=load_before, load_after=loadavg(), result=result, log=str(log_path),
    )
    return measured, sampler

"""OpenMP's wait policy, chosen once per process before torch loads OpenMP.

Between parallel regions, torch's OpenMP threads either spin (active) or sleep (passive). On cores
of its own a spinning thread takes the next region at once: the default run is about 1.3x faster
than with sleeping threads. On cores shared with other work a spinning thread burns the time slice
its preempted partner needs, and epochs took 15 to 40 times their fair share (docs/benchmarks.md,
"Under load"). So the policy is active when the process starts on a machine whose other load
leaves a core free for each of its threads, passive otherwise. OpenMP reads it once, when torch is
first imported, so it is set when the package is imported; a user's own OMP_WAIT_POLICY or
GOMP_SPINCOUNT wins.
"""
from __future__ import annotations

import os
import sys
from typing import Mapping, MutableMapping, Optional

# Load that may run beside the process's threads and still count as "cores of its own": a
# machine's housekeeping, not a job.
SLACK = 0.5


def cores() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def threads_wanted(environ: Mapping[str, str], n_cores: int) -> int:
    """OpenMP threads the process will run: OMP_NUM_THREADS (its first level), else one per core."""
    try:
        return max(1, int(environ.get("OMP_NUM_THREADS", "").split(",")[0]))
    except ValueError:
        return n_cores


def other_load(loadavg: str) -> float:
    """Runnable threads of other processes, from /proc/loadavg's text: the larger of the one-minute
    load average and the threads runnable right now besides this one (the average lags behind
    processes that have just started)."""
    fields = loadavg.split()
    return max(float(fields[0]), float(fields[3].split("/")[0]) - 1)


def choose(loadavg: str, threads: int, n_cores: int) -> str:
    """ACTIVE when the other load plus `threads` fits `n_cores`, else PASSIVE."""
    return "ACTIVE" if other_load(loadavg) + threads <= n_cores + SLACK else "PASSIVE"


def set_wait_policy(environ: MutableMapping[str, str] = os.environ) -> Optional[str]:
    """Set OMP_WAIT_POLICY from the machine's load unless the user set it (or GOMP_SPINCOUNT) or
    torch, and so OpenMP, is loaded already (too late to matter); returns what was set, None when
    nothing was."""
    if "OMP_WAIT_POLICY" in environ or "GOMP_SPINCOUNT" in environ or "torch" in sys.modules:
        return None
    try:
        with open("/proc/loadavg") as f:
            loadavg = f.read()
    except OSError:  # no /proc (macOS): sleeping threads are the safe side
        loadavg = None
    n = cores()
    policy = "PASSIVE" if loadavg is None else choose(loadavg, threads_wanted(environ, n), n)
    environ["OMP_WAIT_POLICY"] = policy
    return policy

"""A pytest plugin: each test's CPU time (this process and the child processes it waited for) and
wall time, one JSON line per test in $SUITE_CPU_TIME_OUT (default suite_cpu_time.jsonl); on a
loaded machine CPU time stands for the time on quiet cores."""
import json
import os
import resource
import time

import pytest

OUT = os.environ.get("SUITE_CPU_TIME_OUT", "suite_cpu_time.jsonl")


def _cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime, c.ru_utime + c.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    (s0, c0), w0 = _cpu(), time.time()
    yield
    (s1, c1), w1 = _cpu(), time.time()
    with open(OUT, "a") as f:
        f.write(json.dumps({"id": item.nodeid, "self": s1 - s0, "child": c1 - c0, "wall": w1 - w0,
                            "slow": item.get_closest_marker("slow") is not None,
                            "worker": os.environ.get("PYTEST_XDIST_WORKER", "")}) + "\n")

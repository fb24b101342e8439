"""What a benchmark's numbers were measured on: they mean little without the CPU, core count and kernel path."""

from __future__ import annotations

import os
import platform

import numpy as np


def machine() -> dict[str, object]:
    from bitsift.core.kernel import capabilities  # here: a worker may import an older bitsift

    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    caps = capabilities()
    return {
        "cpu": f"{info.get('model name', platform.processor() or platform.machine())} "
               f"(family {info.get('cpu family', '?')}, model {info.get('model', '?')})",
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "kernel_path": caps["auto"],
        "capabilities": caps,
    }

"""The host CPU as the benchmarks and experiment records report it: model name and the
instruction-set flags that decide float32 / bfloat16 speed (read from ``/proc/cpuinfo``), and
how many cores this process may run on."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CPUINFO = Path("/proc/cpuinfo")
# AVX-512 and AMX: without amx_bf16 / avx512_bf16, bfloat16 matmuls are emulated and slower.
CPU_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)


def cpu_info(
    flags: Sequence[str] = CPU_FLAGS, cpuinfo: str | os.PathLike = CPUINFO
) -> dict[str, Any]:
    """The CPU's model name and which of ``flags`` it has (the first processor in ``cpuinfo``).

    Returns:
        ``{"cpu": name, "cpu_features": {flag: bool}}``; where ``cpuinfo`` cannot be read (not
        Linux), the name :mod:`platform` gives and no features.
    """
    name = platform.processor() or platform.machine()
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return {"cpu": name, "cpu_features": {}}
    first = text.split("\n\n", 1)[0]  # one block per logical processor
    fields = dict(line.partition(":")[::2] for line in first.splitlines())
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    listed = set(fields.get("flags", "").split())
    return {
        "cpu": fields.get("model name") or name,
        "cpu_features": {flag: flag in listed for flag in flags},
    }


def machine_summary() -> str:
    """``"<CPU name>, <n> cores"``, the line the experiment records carry."""
    return f"{cpu_info(())['cpu']}, {os.cpu_count()} cores"


def usable_cpus() -> int:
    """The logical CPUs this process may run on: its affinity mask where the OS has one (a
    container or ``taskset`` limit), else ``os.cpu_count()``; at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)

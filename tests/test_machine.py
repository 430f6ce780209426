"""src.machine: the CPU name and flags from a /proc/cpuinfo-format file."""

from src import machine
from src.machine import cpu_info

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx2 fma avx512f amx_tile amx_bf16

processor\t: 1
model name\t: Another CPU
flags\t\t: fpu avx512_bf16
"""


def test_cpu_info_reads_the_first_processors_name_and_flags(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    info = cpu_info(("avx512f", "amx_bf16", "avx512_bf16"), cpuinfo=path)
    assert info == {
        "cpu": "Intel(R) Xeon(R) Platinum 8480+",
        "cpu_features": {"avx512f": True, "amx_bf16": True, "avx512_bf16": False},
    }


def test_cpu_info_without_cpuinfo_gives_a_name_and_no_features(tmp_path):
    info = cpu_info(cpuinfo=tmp_path / "missing")
    assert info["cpu"] and info["cpu_features"] == {}


def test_usable_cpus_follows_the_affinity_mask(monkeypatch):
    monkeypatch.setattr(machine.os, "sched_getaffinity", lambda pid: {0, 5}, raising=False)
    assert machine.usable_cpus() == 2
    monkeypatch.delattr(machine.os, "sched_getaffinity")
    monkeypatch.setattr(machine.os, "cpu_count", lambda: None)
    assert machine.usable_cpus() == 1

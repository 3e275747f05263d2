"""Defaults that follow from the machine: the number of live dev servers a node runs."""

from kontext_preview.config import (
    NODE_RESERVE_GIB,
    SESSION_MEMORY_MIB,
    Settings,
    default_max_running_sessions,
    memory_limit_bytes,
)

GIB = 2**30


def test_a_24_gib_node_runs_what_its_memory_holds_after_the_reserve() -> None:
    assert default_max_running_sessions(24 * GIB) == (24 - NODE_RESERVE_GIB) * 1024 // 64
    assert default_max_running_sessions(24 * GIB) == 352
    assert SESSION_MEMORY_MIB == 64


def test_a_small_or_unknown_machine_still_runs_a_few() -> None:
    assert default_max_running_sessions(0) == 4
    assert default_max_running_sessions(2 * GIB) == 4
    assert default_max_running_sessions(4 * GIB) == 32


def test_the_default_reads_this_machines_memory_and_a_setting_overrides_it() -> None:
    limit = memory_limit_bytes()
    assert limit > GIB  # a cgroup limit or MemTotal was read
    assert Settings().max_running_sessions == default_max_running_sessions(limit)
    assert Settings(max_running_sessions=7).max_running_sessions == 7

"""RunLock: one run per run folder; a lock whose owner is gone never blocks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from logifold_kedro import run_lock
from logifold_kedro.run_lock import (
    LOCK_NAME,
    RunFolderLockedError,
    RunLock,
    owner_record,
    stale_reason,
)


def write_lock(folder, **fields) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    record = {**owner_record("kedro run --pipelines reporting"), **fields}
    (folder / LOCK_NAME).write_text(json.dumps(record))


@pytest.fixture
def other_process():
    """A live process of this host that is not this one."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process
    process.kill()
    process.wait()


def test_a_live_owner_on_this_host_blocks_and_is_named(tmp_path, other_process):
    write_lock(
        tmp_path,
        pid=other_process.pid,
        process_start=run_lock.process_start_time(other_process.pid),
    )
    with pytest.raises(RunFolderLockedError) as error:
        RunLock(tmp_path).acquire()
    message = str(error.value)
    assert f"PID {other_process.pid} on host {socket.gethostname()}" in message
    assert "`kedro run --pipelines reporting`" in message and "--params seed=7" in message


def test_a_dead_owner_reused_pid_or_old_heartbeat_is_taken_over(tmp_path, other_process):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    cases = {
        "ended": {"pid": int(dead.stdout)},
        "reused": {"pid": other_process.pid, "process_start": "1"},
        "silent host": {"host": "elsewhere", "heartbeat": time.time() - 3600},
        "this process": {"pid": os.getpid()},  # a run of this process that never released
        "empty": None,
    }
    for name, fields in cases.items():
        folder = tmp_path / name
        if fields is None:
            folder.mkdir()
            (folder / LOCK_NAME).write_text("")
            old = time.time() - 3600
            os.utime(folder / LOCK_NAME, (old, old))
        else:
            write_lock(folder, **fields)
        with RunLock(folder) as lock:
            assert json.loads(lock.path.read_text())["pid"] == os.getpid(), name
        assert not (folder / LOCK_NAME).exists(), name


def test_a_fresh_heartbeat_from_another_host_blocks():
    record = {**owner_record("x"), "host": "elsewhere", "heartbeat": time.time() - 10}
    assert stale_reason(record) is None
    assert "heartbeat" in stale_reason({**record, "heartbeat": time.time() - 1000})


def test_the_heartbeat_renews_only_our_own_lock(tmp_path, monkeypatch):
    lock = RunLock(tmp_path)
    lock.acquire()
    try:
        before = json.loads(lock.path.read_text())["heartbeat"]
        time.sleep(0.01)
        lock._renew()
        assert json.loads(lock.path.read_text())["heartbeat"] > before
        write_lock(tmp_path, host="elsewhere")  # someone else's lock now (taken over)
        lock._renew()
        assert json.loads(lock.path.read_text())["host"] == "elsewhere"
    finally:
        lock.release()
    assert lock.path.exists(), "release never removes a lock that is not ours"


def test_two_locks_in_one_process_exclude_each_other(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(RunFolderLockedError):
            RunLock(tmp_path).acquire()
    with RunLock(tmp_path):
        pass

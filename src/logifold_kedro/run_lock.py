"""One run per run folder: a lock file that a killed run never leaves blocking.

Two runs writing one run folder (``data/<layer>/<scale>/seed<seed>/``) at the same time read each
other's versions: a later node of one run loads "latest", which is the other run's. So a run (or
an import) takes ``<run folder>/.kedro-run.lock`` before anything is written and removes it at
the end; a second run on the same folder is refused at start, naming the owner.

The file is created with ``O_CREAT | O_EXCL`` (one winner, also on NFS v3+) and holds its owner:
host, PID, the process's start time, the command, and a heartbeat timestamp that a background
thread renews every ``HEARTBEAT_SECONDS``. A lock is stale, and is taken over, when

- its owner ran on this host and that process is gone (PID not alive, or alive but started at
  another time: a reused PID), or
- its owner ran on another host (a shared filesystem) and its heartbeat is older than
  ``STALE_AFTER_SECONDS``.

Taking over renames the stale file away first (only one of several restarting runs wins that
rename), so a lock left by a killed run never blocks the restart.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

LOCK_NAME = ".kedro-run.lock"
HEARTBEAT_SECONDS = 30.0
STALE_AFTER_SECONDS = 300.0
# Tokens of the locks this process holds now. A lock naming this process but not one of these
# was left by a run of this process that ended without releasing it (Ctrl-C in a notebook).
_HELD_TOKENS: set[str] = set()


class RunFolderLockedError(RuntimeError):
    """Another live run holds the run folder's lock."""


def process_start_time(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) is in parentheses and may hold spaces.
    return stat.rsplit(")", 1)[-1].split()[19]


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists on this host (on Windows, where signal 0 would
    terminate the process, every PID counts as alive and the heartbeat decides)."""
    if pid <= 0:
        return False
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def owner_record(command: str) -> dict[str, Any]:
    """What this process writes into a lock it holds."""
    now = time.time()
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "process_start": process_start_time(os.getpid()),
        "command": command,
        "started": now,
        "heartbeat": now,
        "token": uuid.uuid4().hex,
    }


def stale_reason(record: dict[str, Any], now: float | None = None) -> str | None:
    """Why a lock's owner is gone (the lock may be taken over), or None while it may be alive."""
    now = time.time() if now is None else now
    if record.get("host") == socket.gethostname() and os.name != "nt":
        pid = int(record.get("pid", -1))
        if pid == os.getpid() and record.get("token") not in _HELD_TOKENS:
            return "a run of this process ended without releasing it"
        if not pid_alive(pid):
            return f"its process {pid} on this host has ended"
        started = record.get("process_start")
        if started is not None and process_start_time(pid) not in (None, started):
            return f"PID {pid} now belongs to another process"
        return None
    age = now - float(record.get("heartbeat", 0.0))
    if age > STALE_AFTER_SECONDS:
        return f"its heartbeat from host {record.get('host')} is {age:.0f} s old"
    return None


def read_record(path: Path) -> dict[str, Any] | None:
    """The lock's owner record; None if the file vanished; {} if it is unreadable (a writer
    killed between creating and filling it)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return record if isinstance(record, dict) else {}


def _create(path: Path, record: dict[str, Any]) -> bool:
    try:
        handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(handle, "w") as out:
        json.dump(record, out)
    return True


def describe_owner(record: dict[str, Any]) -> str:
    started = record.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "?"
    beat = record.get("heartbeat")
    age = f", last heartbeat {time.time() - float(beat):.0f} s ago" if beat else ""
    return (
        f"PID {record.get('pid', '?')} on host {record.get('host', '?')}, started {when}{age}: "
        f"`{record.get('command', '?')}`"
    )


@dataclass
class RunLock:
    """The lock of one run folder, held by this process between ``acquire`` and ``release``."""

    folder: Path
    command: str = field(default_factory=lambda: " ".join(sys.argv) or "python")
    _record: dict[str, Any] | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def path(self) -> Path:
        return self.folder / LOCK_NAME

    def acquire(self) -> None:
        """Take the lock or raise RunFolderLockedError naming the live owner."""
        self.folder.mkdir(parents=True, exist_ok=True)
        record = owner_record(self.command)
        for _ in range(5):
            if _create(self.path, record):
                self._record = record
                _HELD_TOKENS.add(record["token"])
                self._start_heartbeat()
                return
            current = read_record(self.path)
            if current is None:
                continue  # released meanwhile: try again
            reason = stale_reason(current) if current else "it is empty (its writer was killed)"
            if current == {} and time.time() - self.path.stat().st_mtime < HEARTBEAT_SECONDS:
                time.sleep(0.2)  # being written just now
                continue
            if reason is None:
                raise RunFolderLockedError(
                    f"another run is using the run folder {self.folder} "
                    f"({describe_owner(current)}). Two runs in one folder would read each "
                    "other's versions. Wait until it ends, or use another seed "
                    "(`--params seed=7`). If that run is gone (killed on another machine), "
                    f"delete {self.path}."
                )
            self._take_over(reason)
        raise RunFolderLockedError(f"could not take the lock {self.path}; try again")

    def _take_over(self, reason: str) -> None:
        aside = self.path.with_name(f"{LOCK_NAME}.stale-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(self.path, aside)  # one winner among restarting runs
        except FileNotFoundError:
            return
        logger.warning("took over the run lock %s: %s", self.path, reason)
        aside.unlink(missing_ok=True)

    def _start_heartbeat(self) -> None:
        def beat() -> None:
            while not self._stop.wait(HEARTBEAT_SECONDS):
                self._renew()

        self._stop.clear()
        self._thread = threading.Thread(target=beat, name="run-lock-heartbeat", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        if self._record is None or read_record(self.path) != self._record:
            return  # not ours any more: never touch another run's lock
        record = {**self._record, "heartbeat": time.time()}
        partial = self.path.with_name(f"{LOCK_NAME}.beat-{os.getpid()}")
        partial.write_text(json.dumps(record))
        os.replace(partial, self.path)
        self._record = record

    def release(self) -> None:
        """Remove the lock if this process still holds it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._record is not None:
            if read_record(self.path) == self._record:
                self.path.unlink(missing_ok=True)
            _HELD_TOKENS.discard(self._record["token"])
        self._record = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

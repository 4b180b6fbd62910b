"""The appending side of the local files (``<kind>-<time>-<pid>.jsonl``): whole lines only,
and never the app's last free bytes.

The agent writes into a folder the app's own files may share a disk with. Three rules
keep it from costing the app a write that would have succeeded without it:

* **Whole lines.** Each line goes in one ``write``; a write that falls short (the disk
  filled meanwhile) or fails is taken back (the file is truncated to where the line
  began), so no partial line stays and the bytes it took are free again.
* **A reserve.** Nothing is written while the folder's file system has less than
  ``min_free_bytes`` free (``WEAVE_AGENT_TRACES_MIN_FREE_BYTES``) after the line, or
  while writing fails for lack of space (``ENOSPC``, ``EDQUOT``, ``EFBIG``); one line says
  so, naming the condition and the folder, and one line says when writing resumes.
  The lines meanwhile are dropped (the exporter reports the batch as failed).
* **A cap.** The folder's local files (every kind, every process and earlier run: the
  names ``<kind>-<time>-<pid>[.<part>].jsonl`` only, nothing else in the folder) hold at
  most ``folder_max_bytes`` (``WEAVE_AGENT_TRACES_DIR_MAX_BYTES``): the oldest files
  (by modification time) go first.

The traces, metrics and logs files of a process share one :class:`Folder` per directory,
so the folder is measured once and each condition is said once, whoever meets it.
"""

from __future__ import annotations

import errno
import json
import os
import re
import threading
import time
from typing import Any

from .. import _log

# Write failures that mean "no room": the folder stops taking lines until there is room.
SPACE_ERRNOS = frozenset(e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None), errno.EFBIG) if e is not None)

_LOCAL_FILE = re.compile(r"[a-z]+-\d{8}T\d{6}-\d+(?:\.\d+)?\.jsonl")
RESCAN_SECONDS = 5.0  # other processes write into the folder too: measure it again this often

# One stamp per process, shared by its traces, metrics and logs files (and their rotated
# parts): ``weave-run show traces-<time>-<pid>.jsonl`` finds ``metrics-<time>-<pid>.jsonl``
# by name, and a pid reused by a later run (containers) never pairs the wrong files.
_stamps: dict[int, str] = {}


def process_stamp() -> str:
    pid = os.getpid()
    stamp = _stamps.get(pid)
    if stamp is None:
        stamp = _stamps[pid] = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return stamp


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return ("%d %s" % (n, unit)) if unit == "bytes" else ("%.1f %s" % (n, unit))
        n /= 1024
    return "%d bytes" % n  # (not reached)


class Folder:
    """What the local files of one directory may take (see the module docstring); one per
    directory and process (:func:`folder`)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.max_bytes = 0  # 0: no cap
        self.min_free_bytes = 0  # 0: no reserve
        self.stopped = ""  # why lines are not written now ("" while they are)
        self.why = ""  # the last reason a line was not written, for the exit line
        self.skipped = 0  # lines not written since it stopped
        self.episodes = 0  # how many times it stopped (the first stop and resume are said as warnings)
        self._used: int | None = None  # bytes of the local files, as last measured plus what was written since
        self._scanned = 0.0
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def configure(self, max_bytes: int | None, min_free_bytes: int | None) -> None:
        if max_bytes is not None:
            self.max_bytes = max(0, int(max_bytes))
        if min_free_bytes is not None:
            self.min_free_bytes = max(0, int(min_free_bytes))

    def lock(self) -> threading.Lock:
        if self._pid != os.getpid():  # a forked child: a lock held by a parent's thread stays held
            self._pid, self._lock = os.getpid(), threading.Lock()
        return self._lock

    # --- before a line: the reserve and the cap ------------------------------------------

    def room_for(self, n: int, keep: str) -> bool:
        """True when a line of ``n`` bytes may be written now (to ``keep``, never removed to
        make room); removes the oldest files past the cap."""
        with self.lock():
            if self.min_free_bytes:
                free = self._free()
                if free is not None and free - n < self.min_free_bytes:
                    self._stop("low", "it has %s free, less than the %s kept free for the app "
                               "(WEAVE_AGENT_TRACES_MIN_FREE_BYTES)" % (_size(free), _size(self.min_free_bytes)))
                    return False
            if self.stopped == "low":
                self._resume()
            if self.max_bytes and not self._fits(n, keep):
                return False
            return True

    def _free(self) -> int | None:
        """Bytes an unprivileged write may still take on the folder's disk (of the nearest
        existing parent, before the folder is made); None where that cannot be known."""
        path = self.directory
        while True:
            try:
                st = os.statvfs(path)
                return int(st.f_bavail) * int(st.f_frsize)
            except FileNotFoundError:
                parent = os.path.dirname(path)
                if parent == path:
                    return None
                path = parent
            except (OSError, AttributeError):
                return None  # (no statvfs on this platform: the whole-line rule still holds)

    def _fits(self, n: int, keep: str) -> bool:
        now = time.monotonic()
        if self._used is None or now - self._scanned > RESCAN_SECONDS or self._used + n > self.max_bytes:
            files = self._scan()
            self._used, self._scanned = sum(size for _, size, _ in files), now
            if self._used + n > self.max_bytes:
                removed = 0
                for _, size, path in sorted(files):  # the oldest first
                    if self._used + n <= self.max_bytes:
                        break
                    if path == keep:
                        continue
                    try:
                        os.unlink(path)
                    except FileNotFoundError:
                        pass  # another process removed it first
                    except OSError:
                        continue
                    self._used -= size
                    removed += 1
                if removed:
                    _log.debug("local files: %s held more than %s (WEAVE_AGENT_TRACES_DIR_MAX_BYTES): removed the %d "
                               "oldest file%s", self.directory, _size(self.max_bytes), removed,
                               "" if removed == 1 else "s")
                    if _log.once("local-files-cap:" + self.directory):
                        _log.info("the folder %s reached its cap of %s (WEAVE_AGENT_TRACES_DIR_MAX_BYTES): the "
                                  "oldest trace files are removed to make room", self.directory, _size(self.max_bytes))
        if self._used + n > self.max_bytes:
            self.why = "a line of %s does not fit in the folder's cap of %s (WEAVE_AGENT_TRACES_DIR_MAX_BYTES)" % (
                _size(n), _size(self.max_bytes))
            if _log.once("local-files-line-too-big:" + self.directory):
                _log.warning("a line of %s does not fit in the %s cap of the folder %s "
                             "(WEAVE_AGENT_TRACES_DIR_MAX_BYTES): it is not written", _size(n),
                             _size(self.max_bytes), self.directory)
            return False
        return True

    def _scan(self) -> list[tuple[float, int, str]]:
        found = []
        try:
            with os.scandir(self.directory) as entries:
                for entry in entries:
                    if _LOCAL_FILE.fullmatch(entry.name):
                        try:
                            st = entry.stat(follow_symlinks=False)
                        except OSError:
                            continue
                        found.append((st.st_mtime, st.st_size, entry.path))
        except OSError:
            pass
        return found

    # --- after a line -----------------------------------------------------------------

    def wrote(self, n: int) -> None:
        with self.lock():
            if self._used is not None:
                self._used += n
            if self.stopped:
                self._resume()

    def failed(self, exc: OSError) -> None:
        """A write found no room (``exc.errno`` in ``SPACE_ERRNOS``)."""
        name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        with self.lock():
            self._stop("full", "writing failed (%s: %s)" % (name, os.strerror(exc.errno or 0)))

    def _stop(self, kind: str, why: str) -> None:
        self.skipped += 1
        self.why = "short of space: %s" % why
        if self.stopped:
            return
        self.stopped = kind
        self.episodes += 1
        say = _log.warning if self.episodes == 1 else _log.debug
        say("the folder %s is short of space: %s; no trace, metric or log lines are written there until there "
            "is room again (the app's own writes come first)", self.directory, why)

    def _resume(self) -> None:
        skipped, self.skipped, self.stopped = self.skipped, 0, ""
        say = _log.warning if self.episodes == 1 else _log.debug
        say("the folder %s has room again: writing resumed (%d line%s not written meanwhile)", self.directory,
            skipped, " was" if skipped == 1 else "s were")


_folders: dict[str, Folder] = {}
_folders_lock = threading.Lock()


def folder(directory: str) -> Folder:
    """The one :class:`Folder` of ``directory`` in this process."""
    key = os.path.abspath(directory)
    found = _folders.get(key)
    if found is None:
        with _folders_lock:
            found = _folders.setdefault(key, Folder(key))
    return found


class LineFile:
    """The appending side of ``<directory>/<kind>-<time>-<pid>.jsonl``: one file per
    process (a forked child starts its own), rotated past ``max_bytes``, each line written
    whole or not at all. A file is listed in ``paths`` and left on disk only once a line
    is in it, so a process with nothing written leaves no file.

    ``folder_max_bytes`` and ``min_free_bytes`` set the folder's cap and reserve (shared
    with the other kinds in the folder; None leaves them as they are, 0 turns one off).
    """

    def __init__(self, directory: str, kind: str, max_bytes: int, folder_max_bytes: int | None = None,
                 min_free_bytes: int | None = None) -> None:
        self.directory = directory
        self.kind = kind
        self.max_bytes = max_bytes
        self.folder = folder(directory)
        self.folder.configure(folder_max_bytes, min_free_bytes)
        self.paths: list[str] = []
        self._path: str | None = None
        self._pid = -1
        self._part = 0
        self._lock = threading.Lock()
        self._lock_pid = os.getpid()

    def forked(self) -> None:
        """A forked child lists only its own files."""
        self.paths = []
        self._path = None

    def _rotate_at(self) -> int:
        # Several parts under the cap, so that the cap can remove a full part and the
        # current one never has to go.
        cap = self.folder.max_bytes
        return min(self.max_bytes, max(1, cap // 4)) if cap else self.max_bytes

    def _current_path(self) -> str:
        pid = os.getpid()
        if self._path is None or pid != self._pid:
            # A forked child must not append to its parent's file.
            self._pid, self._part = pid, 0
            self._path = self._new_path()
        else:
            try:
                full = os.path.getsize(self._path) >= self._rotate_at()
            except OSError:
                full = False  # (removed by the cap, or not written yet)
            if full:
                self._part += 1
                self._path = self._new_path()
        return self._path

    def _new_path(self) -> str:
        suffix = "" if self._part == 0 else ".%d" % self._part
        return os.path.join(self.directory, "%s-%s-%d%s.jsonl" % (self.kind, process_stamp(), self._pid, suffix))

    @property
    def last_failure(self) -> str:
        """Why the last line this folder refused was not written ("" if none was)."""
        return self.folder.why

    def write(self, doc: dict[str, Any]) -> bool:
        """Append ``doc`` as one line; True when it is in the file whole, False when it was
        not written (the folder is short of space or at its cap: said once by the folder).
        Other write errors (a read-only folder) raise, after any partial line is taken back."""
        data = (json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")
        if self._lock_pid != os.getpid():
            self._lock_pid, self._lock = os.getpid(), threading.Lock()
        with self._lock:
            path = self._current_path()
            if not self.folder.room_for(len(data), keep=path):
                return False
            try:
                try:
                    self._append(path, data)
                except FileNotFoundError:  # no folder yet (or it was removed)
                    os.makedirs(self.directory, exist_ok=True)
                    self._append(path, data)
            except OSError as exc:
                if exc.errno in SPACE_ERRNOS:
                    self.folder.failed(exc)
                    return False
                raise
            if path not in self.paths:
                self.paths.append(path)
            self.folder.wrote(len(data))
            return True

    @staticmethod
    def _append(path: str, data: bytes) -> None:
        """One ``write`` of the whole line; a short or failed one is taken back."""
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            start = os.fstat(fd).st_size
            try:
                written = os.write(fd, data)
                if written != len(data):  # the disk filled during the write: the rest would fail
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            except OSError:
                _take_back(fd, path, start)
                raise
        finally:
            os.close(fd)


def _take_back(fd: int, path: str, start: int) -> None:
    """Truncate to where the line began (a file this line created goes away)."""
    try:
        if start == 0:
            os.unlink(path)
        os.ftruncate(fd, start)
    except OSError:
        pass

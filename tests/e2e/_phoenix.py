"""Phoenix as a real trace server for the e2e tests: its own virtual environment (cached
outside the checkout), a server process bound to loopback, and the REST read-back.

* ``phoenix_venv()``: ``arize-phoenix==PHOENIX_VERSION`` in a virtual environment of its
  own at ``$WEAVE_AGENT_PHOENIX_VENV``, else
  ``${XDG_CACHE_HOME:-~/.cache}/weave-agent/phoenix-venv-<version>-py<X.Y>``; created on
  first use (``pip install``, about a minute) under a file lock, marked complete only once
  Phoenix imports, reused by every later run on the machine (CI included).
* ``Phoenix``: ``phoenix serve`` started through ``phoenix_launcher.py`` (which binds the
  gRPC listener to 127.0.0.1 and exits when its parent does), in a new session, with a
  temporary ``PHOENIX_WORKING_DIR`` and free loopback ports; ``stop()`` kills its process
  group (idempotent; also registered with ``atexit``).
* ``listeners(pid)``: the TCP addresses a process listens on, read from ``/proc``.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

PHOENIX_VERSION = "20.26.1"
HERE = Path(__file__).resolve().parent
LAUNCHER = HERE / "phoenix_launcher.py"
INSTALL_TIMEOUT = 900.0  # pip install of ~800 MB on a slow, loaded machine
READY_TIMEOUT = 120.0  # observed 7-20 s; migrations on a loaded 2-core box take longer
COMPLETE = ".weave-agent-complete"


class PhoenixError(RuntimeError):
    pass


def tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return "(no log: %s)" % exc
    return "\n".join(text.splitlines()[-lines:])


# --- the virtual environment ----------------------------------------------------------


def venv_dir() -> Path:
    explicit = os.environ.get("WEAVE_AGENT_PHOENIX_VENV")
    if explicit:
        return Path(explicit).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    tag = "py%d.%d" % sys.version_info[:2]
    return cache / "weave-agent" / ("phoenix-venv-%s-%s" % (PHOENIX_VERSION, tag))


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _usable(venv: Path, deep: bool = False) -> bool:
    """Marked complete, its interpreter runs and holds the pinned Phoenix (``deep``: and
    Phoenix's server imports, ~7 s: checked once, after the install)."""
    if not (venv / COMPLETE).is_file() or not _python(venv).exists():
        return False
    code = (
        "import phoenix.server.main"
        if deep
        else "import importlib.metadata as m, sys; sys.exit(m.version('arize-phoenix') != %r)" % PHOENIX_VERSION
    )
    try:
        check = subprocess.run(
            [str(_python(venv)), "-c", code], capture_output=True, timeout=300, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return False
    return check.returncode == 0


def phoenix_venv() -> Path:
    """The Python of the cached Phoenix environment, created if missing or broken."""
    venv = venv_dir()
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(str(venv) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run installing: wait for it
        if _usable(venv):
            return _python(venv)
        shutil.rmtree(venv, ignore_errors=True)  # missing, half-installed (a killed run) or broken
        log = Path(str(venv) + ".install.log")
        started = time.monotonic()
        with open(log, "w") as out:
            steps = [
                [sys.executable, "-m", "venv", str(venv)],
                [
                    str(_python(venv)), "-m", "pip", "install", "--disable-pip-version-check",
                    "--no-input", "-q", "arize-phoenix==%s" % PHOENIX_VERSION,
                ],
            ]  # fmt: skip
            for argv in steps:
                out.write("$ %s\n" % " ".join(argv))
                out.flush()
                left = INSTALL_TIMEOUT - (time.monotonic() - started)
                try:
                    done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=left, stdin=subprocess.DEVNULL)
                except subprocess.TimeoutExpired:
                    raise PhoenixError(
                        "installing Phoenix took more than %.0f s; log %s:\n%s" % (INSTALL_TIMEOUT, log, tail(log))
                    ) from None
                if done.returncode != 0:
                    raise PhoenixError(
                        "installing Phoenix failed (%s exited %d); log %s:\n%s"
                        % (argv[2] if argv[1] == "-m" else argv[0], done.returncode, log, tail(log))
                    )
        (venv / COMPLETE).write_text("arize-phoenix==%s\n" % PHOENIX_VERSION)
        if not _usable(venv, deep=True):
            (venv / COMPLETE).unlink()  # the next run installs again
            raise PhoenixError("Phoenix installed in %s but does not import; log %s:\n%s" % (venv, log, tail(log)))
        print(
            "\nweave-agent e2e: installed arize-phoenix %s in %s (%.0f s)"
            % (PHOENIX_VERSION, venv, time.monotonic() - started),
            file=sys.stderr,
        )
        return _python(venv)


# --- listeners (Linux /proc) ----------------------------------------------------------


def _hex_address(text: str) -> str:
    host_hex, port_hex = text.split(":")
    raw = bytes.fromhex(host_hex)
    # /proc/net/tcp{,6} write each 32-bit word in host (little-endian) byte order
    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return "%s:%d" % (socket.inet_ntop(family, raw), int(port_hex, 16))


def listeners(pid: int) -> list[str]:
    """``host:port`` of every TCP socket of ``pid`` in state LISTEN."""
    inodes = set()
    for fd in Path("/proc/%d/fd" % pid).iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    found.append(_hex_address(fields[1]))
    return found


def is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0]
    return host.startswith("127.") or host in ("::1",) or host.startswith("::ffff:127.")


# --- the server -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Phoenix:
    def __init__(self, python: Path, workdir: Path) -> None:
        self.python = python
        self.workdir = workdir
        self.log = workdir / "phoenix.log"
        self.port = free_port()
        self.grpc_port = free_port()
        while self.grpc_port == self.port:
            self.grpc_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def http_endpoint(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    @property
    def grpc_endpoint(self) -> str:
        return "http://127.0.0.1:%d" % self.grpc_port

    def endpoint(self, protocol: str) -> str:
        return self.grpc_endpoint if protocol == "grpc" else self.http_endpoint

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PHOENIX_", "OTEL_", "PYTHON", "WEAVE_AGENT_"))}
        env.update(
            PHOENIX_WORKING_DIR=str(self.workdir / "data"),
            PHOENIX_HOST="127.0.0.1",
            PHOENIX_PORT=str(self.port),
            PHOENIX_GRPC_PORT=str(self.grpc_port),
            PHOENIX_TELEMETRY_ENABLED="false",
            PHOENIX_ALLOW_EXTERNAL_RESOURCES="false",
            PHOENIX_LOG_MIGRATIONS="false",
            PYTHONUNBUFFERED="1",
            PYTHONIOENCODING="utf-8",
        )
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [str(self.python), str(LAUNCHER), str(os.getpid())],
                cwd=str(self.workdir),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() kills all of it
            )
        atexit.register(self.stop)
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self.proc is not None
        started = time.monotonic()
        last = ""
        while time.monotonic() - started < READY_TIMEOUT:
            if self.proc.poll() is not None:
                raise PhoenixError(
                    "Phoenix exited with status %s before it was ready; log %s:\n%s"
                    % (self.proc.returncode, self.log, tail(self.log))
                )
            try:
                with urllib.request.urlopen(self.http_endpoint + "/healthz", timeout=5) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.URLError) as exc:
                last = str(exc)
            time.sleep(0.5)
        raise PhoenixError(
            "Phoenix did not answer GET /healthz within %.0f s (last error: %s); log %s:\n%s"
            % (READY_TIMEOUT, last, self.log, tail(self.log))
        )

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        # whatever is left of the group (the launcher itself, or anything it started)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)

    def log_tail(self) -> str:
        return tail(self.log)

    # --- the REST API ---------------------------------------------------------------

    def get_json(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.http_endpoint + path, timeout=15) as r:
                return r.status, r.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")

    def spans(self, project: str, expected: int, timeout: float = 30.0) -> tuple[list[dict[str, Any]], str]:
        """The project's spans (and the raw JSON text), polled until there are at least
        ``expected`` of them or ``timeout`` passes (ingestion lags the export a little)."""
        path = "/v1/projects/%s/spans?limit=100" % urllib.parse.quote(project, safe="")
        started = time.monotonic()
        status, text, data = 0, "", []
        while True:
            status, text = self.get_json(path)
            if status == 200:
                data = json.loads(text)["data"]
                if len(data) >= expected:
                    break
            if time.monotonic() - started > timeout:
                break
            time.sleep(0.3)
        if status == 200 and len(data) == expected:
            time.sleep(0.5)  # anything unexpected arriving late shows up in the count
            status, text = self.get_json(path)
            data = json.loads(text)["data"] if status == 200 else data
        return data, ("HTTP %d: %s" % (status, text) if status != 200 else text)

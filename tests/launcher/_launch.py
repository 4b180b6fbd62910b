"""Helpers for the launcher tests (issue 4): everything runs as real subprocesses.

* ``SITE_FILES`` (written once per session by the ``plugin_site`` fixture in
  ``conftest.py``): a folder put on ``PYTHONPATH`` holding a fake vendor SDK
  ``fakevendor`` (distribution ``fakevendor`` 1.2.3) and a fake third-party
  instrumentation distribution ``fakevendor-weave`` 1.0 whose entry point in the group
  ``weave_agent.instrumentations`` loads ``fakevendor_weave:ROW``. Its patcher turns
  ``Client.complete`` into spans named ``chat`` and ``Client.stream`` (a generator) into
  spans named ``chat.stream``.
* ``Launch`` (the ``launch`` fixture): per test, a working folder, a clean environment (no ``WEAVE_AGENT_*``,
  ``OTEL_*``, ``PYTHON*``, ``PYTEST_*`` of the test run), ``WEAVE_AGENT_TRACES_DIR`` in the
  working folder, ``run()``/``popen()`` with timeouts that kill the whole process group,
  and ``spans()`` reading back the OTLP-JSON files.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BIN = str(Path(sys.executable).parent)
WEAVE_RUN = os.path.join(BIN, "weave-run")

FAKEVENDOR_VERSION = "1.2.3"
SUPPORTED = ">=1,<2"

_STRIP = ("WEAVE_AGENT_", "OTEL_", "PYTHON", "PYTEST_", "COV_CORE_")

SITE_FILES = {
    "fakevendor/__init__.py": '__version__ = "%s"\n' % FAKEVENDOR_VERSION,
    "fakevendor/client.py": '''
        """A fake LLM SDK: no network, deterministic answers."""


        class Client:
            def complete(self, prompt):
                return "echo:" + prompt

            def stream(self, prompt):
                for word in prompt.split():
                    yield word
        ''',
    "fakevendor-%s.dist-info/METADATA" % FAKEVENDOR_VERSION: """
        Metadata-Version: 2.1
        Name: fakevendor
        Version: %s
        """ % FAKEVENDOR_VERSION,
    "fakevendor-%s.dist-info/RECORD" % FAKEVENDOR_VERSION: "",
    "fakevendor_weave.py": '''
        """A third-party instrumentation for fakevendor, registered by entry point."""

        import importlib

        import weave_agent
        from weave_agent.hook.patcher import MultiPatcher, SymbolPatcher
        from weave_agent.hook.registry import Instrumentation

        ROW = Instrumentation(
            "fakevendor", ["fakevendor.client"], "fakevendor_weave", distribution="fakevendor", versions="%s"
        )


        def _client():
            return importlib.import_module("fakevendor.client")


        fakevendor_patcher = MultiPatcher(
            [
                SymbolPatcher(_client, "Client.complete", weave_agent.op(name="chat")),
                SymbolPatcher(_client, "Client.stream", weave_agent.op(name="chat.stream")),
            ]
        )
        ''' % SUPPORTED,
    "fakevendor_weave-1.0.dist-info/METADATA": """
        Metadata-Version: 2.1
        Name: fakevendor-weave
        Version: 1.0
        Requires-Dist: fakevendor
        """,
    "fakevendor_weave-1.0.dist-info/RECORD": "",
    "fakevendor_weave-1.0.dist-info/entry_points.txt": """
        [weave_agent.instrumentations]
        fakevendor = fakevendor_weave:ROW
        """,
}

# The app most tests run: one patched call, its pid on stdout.
APP = """
    import os
    from fakevendor.client import Client

    print(Client().complete("hello"), os.getpid(), flush=True)
"""


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Span:
    """One exported span, flattened: ids in hex, attributes as plain values."""

    def __init__(self, raw: dict[str, Any], resource: dict[str, Any], path: Path) -> None:
        self.raw = raw
        self.name: str = raw["name"]
        self.trace_id: str = raw["traceId"]
        self.span_id: str = raw["spanId"]
        self.parent_span_id: str = raw.get("parentSpanId", "")
        self.attributes = _attrs(raw.get("attributes", []))
        self.resource = _attrs(resource.get("attributes", []))
        self.path = path
        m = re.match(r"traces-\d{8}T\d{6}-(\d+)(?:\.\d+)?\.jsonl$", path.name)
        assert m, "unexpected trace file name %s" % path.name
        self.pid = int(m.group(1))

    def __repr__(self) -> str:
        return "Span(%r, pid=%d, input=%r)" % (self.name, self.pid, self.attributes.get("input.value"))


def _value(v: dict[str, Any]) -> Any:
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    if "intValue" in v:
        return int(v["intValue"])
    if "arrayValue" in v:
        return [_value(x) for x in v["arrayValue"].get("values", [])]
    return v


def _attrs(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {a["key"]: _value(a.get("value", {})) for a in items}


def read_spans(folder: Path) -> list[Span]:
    spans: list[Span] = []
    if not folder.is_dir():
        return spans
    for path in sorted(folder.glob("traces-*.jsonl")):  # not logs-*/metrics-* (content events, metrics)
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            doc = json.loads(line)  # one ExportTraceServiceRequest per line
            for rs in doc["resourceSpans"]:
                for ss in rs.get("scopeSpans", []):
                    for raw in ss.get("spans", []):
                        assert re.fullmatch(r"[0-9a-f]{32}", raw["traceId"]), raw
                        assert re.fullmatch(r"[0-9a-f]{16}", raw["spanId"]), raw
                        spans.append(Span(raw, rs.get("resource", {}), path))
    return spans


class Result:
    def __init__(self, argv: list[str], returncode: int, stdout: str, stderr: str) -> None:
        self.argv, self.returncode, self.stdout, self.stderr = argv, returncode, stdout, stderr

    def __repr__(self) -> str:
        return "Result(%r, rc=%r)\n--- stdout ---\n%s--- stderr ---\n%s" % (
            self.argv,
            self.returncode,
            self.stdout,
            self.stderr,
        )

    def check(self, code: int = 0) -> Result:
        assert self.returncode == code, repr(self)
        return self

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def _child_signals() -> None:
    """Run in the child before exec: a test run started in the background ignores SIGINT,
    and an ignored signal stays ignored across exec; the apps get the default back."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _preexec() -> Callable[[], None] | None:
    return _child_signals if signal.getsignal(signal.SIGINT) == signal.SIG_IGN else None


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL the process group of ``proc`` (started with ``start_new_session``)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass


def sweep_group(proc: subprocess.Popen[Any]) -> None:
    """Right after the leader ended: SIGKILL whatever is left of its process group (a
    worker that outlived its master). Only now, while its pid cannot have been reused."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


class Launch:
    """One test's working folder, environment and processes."""

    def __init__(self, root: Path, site: Path) -> None:
        self.root = root
        self.site = site
        self.traces = root / "traces"
        self._procs: list[subprocess.Popen[Any]] = []

    # --- files and environment -----------------------------------------------------

    def write(self, rel: str, text: str, mode: int | None = None) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        if mode is not None:
            path.chmod(mode)
        return path

    def env(self, **extra: str | None) -> dict[str, str]:
        """A clean environment: the venv's bin first on PATH, the plugin site on
        PYTHONPATH, traces in this test's folder. ``NAME=None`` removes a variable."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIP)}
        env["PATH"] = BIN + os.pathsep + env.get("PATH", "/usr/bin:/bin")
        env["PYTHONPATH"] = str(self.site)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONIOENCODING"] = "utf-8"
        env["WEAVE_AGENT_TRACES_DIR"] = str(self.traces)
        env["COLUMNS"] = "200"
        for key, value in extra.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    # --- processes -------------------------------------------------------------------

    def run(
        self,
        *argv: str,
        env: dict[str, str] | None = None,
        input: str | None = None,
        timeout: float = 30,
        cwd: Path | None = None,
    ) -> Result:
        """Run ``argv`` (``weave-run`` spelled as the venv's) to the end, in its own
        process group; a timeout kills the group and fails the test."""
        args = [WEAVE_RUN if a == "weave-run" and i == 0 else a for i, a in enumerate(argv)]
        proc = subprocess.Popen(
            args,
            env=self.env() if env is None else env,
            cwd=str(cwd or self.root),
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=_preexec(),
        )
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            out, err = proc.communicate()
            raise AssertionError(
                "%r timed out after %ss\n--- stdout ---\n%s--- stderr ---\n%s" % (args, timeout, out, err)
            ) from None
        sweep_group(proc)
        return Result(args, proc.returncode, out, err)

    def popen(self, *argv: str, env: dict[str, str] | None = None, name: str = "proc") -> subprocess.Popen[Any]:
        """Start ``argv`` in its own process group, stdout/stderr to files
        (``<name>.out``/``<name>.err``, see ``output()``); killed at teardown if still alive."""
        args = [WEAVE_RUN if a == "weave-run" and i == 0 else a for i, a in enumerate(argv)]
        with open(self.root / (name + ".out"), "wb") as out, open(self.root / (name + ".err"), "wb") as err:
            proc = subprocess.Popen(
                args,
                env=self.env() if env is None else env,
                cwd=str(self.root),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                preexec_fn=_preexec(),
            )
        self._procs.append(proc)
        return proc

    def output(self, name: str = "proc") -> tuple[str, str]:
        out = (self.root / (name + ".out")).read_text(errors="replace")
        err = (self.root / (name + ".err")).read_text(errors="replace")
        return out, err

    def wait(self, proc: subprocess.Popen[Any], timeout: float = 30) -> int:
        """Wait for ``proc`` to end by itself; on timeout kill its process group and fail."""
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            raise AssertionError("process %d did not end within %ss" % (proc.pid, timeout)) from None
        sweep_group(proc)
        return code

    def stop(self, proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Send ``sig`` to ``proc`` and wait; on timeout kill its process group and fail."""
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            raise AssertionError("process %d did not stop within %ss of signal %d" % (proc.pid, timeout, sig)) from None
        sweep_group(proc)
        return code

    def close(self) -> None:
        for proc in self._procs:
            if proc.returncode is None and proc.poll() is None:  # a test that failed half-way
                kill_group(proc)

    # --- traces ----------------------------------------------------------------------

    def spans(self, name: str | None = None) -> list[Span]:
        found = read_spans(self.traces)
        return [s for s in found if name is None or s.name == name]

    def trace_files(self) -> list[Path]:
        return sorted(self.traces.glob("*.jsonl")) if self.traces.is_dir() else []

"""Fresh interpreters for tests that touch global import state (``sys.meta_path``,
``sys.modules``, the sitecustomize shim): each case runs in its own child process.

``run_python(code, ...)`` runs ``sys.executable -c code`` (or ``args``) with a clean
environment (no ``WEAVE_AGENT_*``/``OTEL_*``/``PYTHON*``/``PYTEST_*`` of the parent), a
given ``PYTHONPATH`` and a timeout, and returns a :class:`Result`. A timeout fails the
test (a deadlock must not hang the suite).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHIM_DIR = REPO / "sitecustomize_shim"

_STRIP = ("WEAVE_AGENT_", "OTEL_", "PYTHON", "PYTEST_")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIP)}
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str, argv: list[str]) -> None:
        self.returncode, self.stdout, self.stderr, self.argv = returncode, stdout, stderr, argv

    def __repr__(self) -> str:
        return "Result(rc=%d)\n--- stdout ---\n%s\n--- stderr ---\n%s" % (self.returncode, self.stdout, self.stderr)

    def check(self) -> Result:
        assert self.returncode == 0, repr(self)
        return self

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    def json(self) -> object:
        """The last non-empty stdout line, decoded as JSON."""
        lines = [line for line in self.lines if line.strip()]
        try:
            return json.loads(lines[-1])
        except (IndexError, ValueError):
            raise AssertionError("the last output line is not JSON\n%r" % (self,)) from None


def run_python(
    code: str | None = None,
    *,
    args: tuple[str, ...] | list[str] = (),
    pythonpath: tuple[object, ...] | list[object] = (),
    env: dict[str, str] | None = None,
    cwd: object = None,
    timeout: float = 30,
    python: str = sys.executable,
) -> Result:
    """Run ``python -c code`` (or ``python *args``) in a fresh interpreter."""
    full_env = clean_env()
    if env:
        full_env.update(env)
    if pythonpath:
        full_env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    argv = [python]
    if code is not None:
        argv += ["-c", textwrap.dedent(code)]
    argv += [str(a) for a in args]
    try:
        proc = subprocess.run(
            argv, env=full_env, cwd=None if cwd is None else str(cwd), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
        raise AssertionError(
            "child timed out after %ss (a deadlock?)\n--- stdout ---\n%s\n--- stderr ---\n%s" % (timeout, out, err)
        ) from None
    return Result(proc.returncode, proc.stdout, proc.stderr, argv)


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``root`` (text dedented); returns ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root

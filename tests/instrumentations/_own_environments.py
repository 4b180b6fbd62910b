"""Environments of their own for libraries that cannot share the main test environment.

LlamaIndex's OpenAI LLM and CrewAI require ``openai<3`` (CrewAI also ``mcp<2`` and
``pydantic<2.13``) while the main environment tests openai 3.x and mcp 2.x: one pip
environment cannot hold both. Each name in ``OWN_TEST_ENVIRONMENTS`` (the registry) gets:

* the pyproject extra ``test-<name>`` and its lock ``constraints/test-<name>.txt``
  (``python constraints/lock.py``);
* a virtual environment cached at ``${XDG_CACHE_HOME:-~/.cache}/weave-agent/test-env-<name>-py<X.Y>``
  (or under ``$WEAVE_AGENT_TEST_ENVIRONMENTS``), installed on first use and again whenever
  ``pyproject.toml`` or the lock changes (a stamp of both is kept in it);
* this checkout's weave-agent installed into it again on every run (no dependencies: a few
  seconds), so the cached environment never tests stale agent code;
* ``tests/instrumentations/<name>`` run there by pytest, with ``WEAVE_AGENT_TEST_ENVIRONMENT=<name>``
  set so that ``tests/conftest.py`` collects that folder (the main run leaves it out).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import runpy
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REGISTRY = runpy.run_path(str(REPO / "instrumentations" / "registry.py"))
NAMES: tuple[str, ...] = tuple(REGISTRY.get("OWN_TEST_ENVIRONMENTS", ()))
ENV_VAR = "WEAVE_AGENT_TEST_ENVIRONMENT"
INSTALL_TIMEOUT = 1800.0  # a cold install of CrewAI (chromadb, lancedb, onnxruntime) on a loaded machine
STAMP = ".weave-agent-stamp"


class EnvironmentError_(Exception):
    """An environment could not be installed; the message ends with its install log's tail."""


def constraints(name: str) -> Path:
    return REPO / "constraints" / ("test-%s.txt" % name)


def venv_dir(name: str) -> Path:
    root = os.environ.get("WEAVE_AGENT_TEST_ENVIRONMENTS")
    base = Path(root) if root else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "weave-agent"
    return base / ("test-env-%s-py%d.%d" % (name, *sys.version_info[:2]))


def stamp(name: str) -> str:
    digest = hashlib.sha256()
    for path in (REPO / "pyproject.toml", constraints(name)):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _run_logged(steps: list[list[str]], log: Path, what: str, timeout: float) -> None:
    started = time.monotonic()
    with open(log, "w") as out:
        for argv in steps:
            out.write("$ %s\n" % " ".join(argv))
            out.flush()
            left = max(1.0, timeout - (time.monotonic() - started))
            try:
                done = subprocess.run(
                    argv, stdout=out, stderr=subprocess.STDOUT, timeout=left, stdin=subprocess.DEVNULL, cwd=str(REPO)
                )
            except subprocess.TimeoutExpired:
                raise EnvironmentError_("%s took more than %.0f s; log %s:\n%s" % (what, timeout, log, tail(log))) from None
            if done.returncode != 0:
                raise EnvironmentError_("%s failed (exit %d); log %s:\n%s" % (what, done.returncode, log, tail(log)))


def environment_python(name: str) -> Path:
    """The interpreter of environment ``name``, with this checkout's weave-agent installed."""
    venv = venv_dir(name)
    venv.parent.mkdir(parents=True, exist_ok=True)
    pip = [str(_python(venv)), "-m", "pip", "--disable-pip-version-check", "--no-input", "install", "-q"]
    with open(str(venv) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run installing: wait for it
        want = stamp(name)
        marker = venv / STAMP
        if not (marker.is_file() and marker.read_text() == want and _python(venv).exists()):
            shutil.rmtree(venv, ignore_errors=True)  # missing, stale, or half-installed by a killed run
            started = time.monotonic()
            _run_logged(
                [
                    [sys.executable, "-m", "venv", str(venv)],
                    [*pip, "--upgrade", "pip"],
                    [*pip, ".[test-%s]" % name, "-c", str(constraints(name))],
                ],
                Path(str(venv) + ".install.log"),
                "installing the %s test environment" % name,
                INSTALL_TIMEOUT,
            )
            marker.write_text(want)
            print("\nweave-agent: installed the %s test environment in %s (%.0f s)" % (name, venv, time.monotonic() - started))
        # This checkout's agent, whatever the cached environment held before.
        _run_logged(
            [[*pip, "--no-deps", "--force-reinstall", "."]],
            Path(str(venv) + ".agent.log"),
            "installing weave-agent into the %s test environment" % name,
            600.0,
        )
    return _python(venv)


def run_tests(name: str, python: Path, *pytest_args: str, timeout: float = 1500.0) -> subprocess.CompletedProcess[str]:
    """pytest over ``tests/instrumentations/<name>`` in the environment, output captured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "WEAVE_AGENT_"))}
    env[ENV_VAR] = name
    argv = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfEs", "tests/instrumentations/%s" % name]
    return subprocess.run(
        [*argv, *pytest_args],
        cwd=str(REPO), env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip

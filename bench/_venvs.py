"""Cached virtual environments for the benchmarks (``bench/.venvs/<name>``, git-ignored).

An environment is reused while its stamp (``weave-bench-stamp.json`` inside it) matches the
requirements files' contents and the interpreter that creates it; when only the repository's
source changed (environments that hold the repository), just the repository is reinstalled.
The repository is installed non-editable, from a snapshot of the working tree (so with
``.pyc`` files as a user has them, and no ``build/`` left in the tree). Deleting
``bench/.venvs/`` is always safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
VENVS = os.path.join(HERE, ".venvs")
STAMP_NAME = "weave-bench-stamp.json"

# The repository snapshot pip installs: everything but these (at the top) and caches.
SNAPSHOT_SKIP_TOP = frozenset({"bench", "tests", "docs", "examples", "build", "dist", "weave-traces"})
SNAPSHOT_SKIP_ANY = frozenset({"__pycache__"})


def _requirements_hash(paths: list[str]) -> str:
    if len(paths) == 1:  # as stamps written before several files were allowed
        with open(paths[0], "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            h.update(os.path.basename(path).encode() + b"\0" + f.read() + b"\0")
    return h.hexdigest()


def snapshot_files() -> list[str]:
    """The repository files a non-editable install is built from (relative paths)."""
    files = []
    for dirpath, dirnames, filenames in os.walk(REPO):
        rel = os.path.relpath(dirpath, REPO)
        top = rel == "."
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in SNAPSHOT_SKIP_ANY
            and not d.endswith(".egg-info")
            and not (top and (d.startswith(".") or d in SNAPSHOT_SKIP_TOP))
        )
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")) or (top and name.startswith(".")):
                continue
            files.append(os.path.normpath(os.path.join(rel, name)))
    return files


def source_hash(files: list[str]) -> str:
    h = hashlib.sha256()
    for rel in files:
        h.update(rel.encode() + b"\0")
        with open(os.path.join(REPO, rel), "rb") as f:
            h.update(f.read())
        h.update(b"\0")
    return h.hexdigest()


def pip(python: str, *args: str) -> None:
    argv = [python, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[:6])} ... failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )


def python_of(venv: str) -> str:
    return os.path.join(venv, "bin", "python")


def ensure_venv(venv: str, requirements: list[str], rebuild: bool = False, with_repo: bool = True) -> dict:
    """Create ``venv`` with the packages of ``requirements`` (and the repository, non-editable,
    when ``with_repo``) unless its stamp matches; returns ``{"action", "seconds", "python"}``."""
    t0 = time.perf_counter()
    python = python_of(venv)
    stamp_path = os.path.join(venv, STAMP_NAME)
    want = {
        "requirements_sha256": _requirements_hash(requirements),
        "base_python": f"{getattr(sys, '_base_executable', sys.executable)} {sys.version}",
    }
    if not with_repo:
        want["with_repo"] = False
    files = snapshot_files() if with_repo else []
    source = source_hash(files) if with_repo else None
    stamp: dict = {}
    if os.path.exists(stamp_path) and os.path.exists(python):
        with open(stamp_path) as f:
            stamp = json.load(f)
    reuse = not rebuild and all(stamp.get(k) == v for k, v in want.items())
    if reuse and stamp.get("source_sha256") == source:
        return {"action": "reused", "seconds": time.perf_counter() - t0, "python": python}
    reqs = [arg for path in requirements for arg in ("-r", path)]
    with tempfile.TemporaryDirectory(prefix="weave-bench-src-") as tmp:
        src = os.path.join(tmp, "weave-agent")
        for rel in files:
            os.makedirs(os.path.join(src, os.path.dirname(rel)), exist_ok=True)
            shutil.copy2(os.path.join(REPO, rel), os.path.join(src, rel))
        if reuse:
            action = "repository reinstalled (source changed)"
            print(f"{os.path.relpath(venv)}: {action}", flush=True)
            pip(python, "install", "-q", "--no-deps", "--force-reinstall", src)
        else:
            action = "created"
            print(f"creating {os.path.relpath(venv)} (requirements or interpreter changed, or first run)", flush=True)
            if os.path.exists(stamp_path):
                os.remove(stamp_path)
            subprocess.run(
                [sys.executable, "-m", "venv", "--clear", "--upgrade-deps", venv], check=True, capture_output=True
            )
            pip(python, "install", "-q", *([src] if with_repo else []), *reqs)
    with open(stamp_path, "w") as f:
        json.dump(dict(want, source_sha256=source, time=time.strftime("%Y-%m-%dT%H:%M:%S%z")), f, indent=2)
    return {"action": action, "seconds": time.perf_counter() - t0, "python": python}

"""Run Python code in a fresh interpreter with a controlled environment."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

_STRIP = ("WEAVE_AGENT_", "OTEL_", "PYTHONPATH", "ANTHROPIC_", "OPENAI_", "MISTRAL_")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIP)}
    env.update(extra)
    return env


def run_python(code: str, env: dict[str, str] | None = None, cwd: str | None = None, timeout: float = 60,
               args: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args, "-c", textwrap.dedent(code)],
        env=clean_env() if env is None else env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )

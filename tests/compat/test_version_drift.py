"""Drift never breaks the host: a vendor release outside the declared range is left alone.

The contract (README, "Integrations"): on an installed release outside an instrumentation's
range, the agent patches nothing, says so in one debug line, and the app runs exactly as
it would without the agent. Checked here end to end, with a real openai release, a real app
started by ``weave-run``, and the local-file exporter read back: same stdout, exit 0, the
debug line under ``WEAVE_AGENT_DEBUG=1``, and no span from openai (the app's own ``@op``
span is there, which shows the agent was running and exporting).

Both directions of drift, each as honestly as today's releases allow:

* **Below the range**: the newest real openai release under the range's lower bound
  (``OLD_OPENAI``), installed with pip in a cached virtual environment of its own
  (``bench/.venvs/drift-openai-<version>-py<X.Y>``, with this repository installed
  non-editable) and started with that environment's own ``weave-run``. The first run
  downloads it (about 40 s, PyPI only); later runs reuse it (marker ``slow``).
* **Above the range**: no openai release above ``<4`` exists yet, so one cannot be
  installed, and inventing a version number would only test the invention. What a future
  release would hit is the range check on the installed version: ``registry row ->
  installed_version -> supports -> decline``. So the real release the test environment
  has (openai 3.x) is put just above the range by narrowing the range's upper bound to
  that very release, in a copy of the agent whose only difference is that one string of
  ``instrumentations/registry.py``; the app starts through that copy's launcher, the path
  a user's process takes. The debug line, which quotes the range, proves the copy ran.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
import _venvs  # noqa: E402

while str(REPO / "bench") in sys.path:
    sys.path.remove(str(REPO / "bench"))

REGISTRY = runpy.run_path(str(REPO / "instrumentations" / "registry.py"))
OPENAI_RANGE = next(row[4] for row in REGISTRY["INSTRUMENTATIONS"] if row[0] == "openai")
OLD_OPENAI = "1.91.0"  # the release before 1.92.0, the range's first

APP = '''
"""A plain OpenAI app: one chat completion against a mock transport (no network)."""
import json
import sys

import openai

if int(openai.__version__.split(".")[0]) >= 3:
    import httpx2 as http  # what openai 3 is built on
else:
    import httpx as http  # what it was built on before (httpx2 may be installed too: genai-prices needs it)
from weave_agent import op


def handler(request):
    body = json.loads(request.content)
    return http.Response(200, json={
        "id": "chatcmpl-drift", "object": "chat.completion", "created": 1700000000,
        "model": body["model"] + "-2024-07-18",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Paris, says " + body["model"]}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16},
    })


@op
def answer(question):
    client = openai.OpenAI(api_key="sk-drift-test", http_client=http.Client(transport=http.MockTransport(handler)))
    result = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
    return result.choices[0].message.content


print(answer("What is the capital of France?"))
print("openai", openai.__version__)
sys.exit(0)
'''

_STRIP = ("WEAVE_AGENT_", "OTEL_", "PYTHON", "PYTEST_")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIP)}
    env.update(PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def _run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=120, check=False)


def _spans(folder: Path) -> list[dict]:
    spans = []
    for path in sorted(folder.glob("traces-*.jsonl")):
        for line in path.read_text().splitlines():
            for rs in json.loads(line)["resourceSpans"] if line.strip() else ():
                for ss in rs.get("scopeSpans", []):
                    spans.extend(ss.get("spans", []))
    return spans


def check_untraced_and_unharmed(plain: subprocess.CompletedProcess, traced: subprocess.CompletedProcess,
                                traces: Path, version: str, declared: str) -> None:
    """The contract, on the two runs of the same app: without the agent, and with it."""
    assert plain.returncode == 0, plain.stderr
    assert traced.returncode == 0, traced.stderr
    assert traced.stdout == plain.stdout
    assert plain.stdout.endswith(f"openai {version}\n")  # the release under test really ran
    decline = f"weave-agent: openai {version} is not supported (supported: {declared}): not patched"
    lines = traced.stderr.splitlines()
    assert lines.count(decline) == 1, traced.stderr
    assert not [line for line in lines if "patched openai" in line], traced.stderr
    assert "Traceback" not in traced.stderr
    spans = _spans(traces)
    assert [s["name"] for s in spans] == ["answer"], spans  # the agent ran; openai made no span
    assert not [a for s in spans for a in s.get("attributes", []) if a["key"].startswith("gen_ai.")]


def _agent_env(traces: Path) -> dict[str, str]:
    return {"WEAVE_AGENT_DEBUG": "1", "WEAVE_AGENT_EXPORTER": "file", "WEAVE_AGENT_TRACES_DIR": str(traces)}


@pytest.mark.slow
def test_a_release_below_the_range_runs_untraced_and_unharmed(tmp_path: Path) -> None:
    assert Version(OLD_OPENAI) not in SpecifierSet(OPENAI_RANGE)  # still outside after any range change
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"openai=={OLD_OPENAI}\n")
    venv = Path(_venvs.VENVS) / ("drift-openai-%s-py%d.%d" % (OLD_OPENAI, *sys.version_info[:2]))
    # _venvs stamps the requirements' content, not their path: the same text reuses the venv.
    python = _venvs.ensure_venv(str(venv), [str(requirements)])["python"]
    (tmp_path / "app.py").write_text(APP)
    traces = tmp_path / "traces"
    plain = _run([python, "app.py"], tmp_path)
    traced = _run([str(venv / "bin" / "weave-run"), python, "app.py"], tmp_path, **_agent_env(traces))
    check_untraced_and_unharmed(plain, traced, traces, OLD_OPENAI, OPENAI_RANGE)


def _agent_copy(site: Path, declared: str, narrowed: str) -> None:
    """The repository's agent laid out as installed (``weave_agent`` and its subpackages, as
    setup.py maps them), with one change: openai's range in the registry."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "agent", site / "weave_agent", ignore=skip)
    shutil.copytree(REPO / "instrumentations", site / "weave_agent" / "instrumentations", ignore=skip)
    shutil.copytree(REPO / "sitecustomize_shim", site / "weave_agent" / "sitecustomize_shim", ignore=skip)
    registry = site / "weave_agent" / "instrumentations" / "registry.py"
    text = registry.read_text()
    assert text.count(f'"{declared}"') == 1
    registry.write_text(text.replace(f'"{declared}"', f'"{narrowed}"'))


def test_a_release_above_the_range_runs_untraced_and_unharmed(tmp_path: Path) -> None:
    installed = importlib.metadata.version("openai")
    assert Version(installed) in SpecifierSet(OPENAI_RANGE)  # the test environment's own release
    lower = ",".join(str(s) for s in SpecifierSet(OPENAI_RANGE) if s.operator.startswith(">"))
    narrowed = f"{lower},<{installed}"  # the installed release is the first one above it
    assert re.fullmatch(r">=?[\d.]+,<[\d.]+", narrowed), narrowed
    site = tmp_path / "site"
    _agent_copy(site, OPENAI_RANGE, narrowed)
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "app.py").write_text(APP)
    traces = tmp_path / "traces"
    plain = _run([sys.executable, "app.py"], app_dir, PYTHONPATH=str(site))
    traced = _run([sys.executable, "-m", "weave_agent", sys.executable, "app.py"], app_dir,
                  PYTHONPATH=str(site), **_agent_env(traces))
    check_untraced_and_unharmed(plain, traced, traces, installed, narrowed)

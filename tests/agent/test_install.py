"""Both install kinds give the namespaced import names and nothing else at top level."""

from __future__ import annotations

import os
import subprocess
import sys
import venv

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHECK = """
import importlib.util, os, weave_agent, weave_agent.instrumentations.registry, weave_agent.sitecustomize_shim
shim = os.path.dirname(weave_agent.sitecustomize_shim.__file__)
assert os.path.isfile(os.path.join(shim, "sitecustomize.py")), shim
assert importlib.util.find_spec("agent") is None
assert importlib.util.find_spec("instrumentations") is None
assert importlib.util.find_spec("sitecustomize_shim") is None
print(weave_agent.__version__)
"""


@pytest.mark.slow
@pytest.mark.parametrize("editable", [False, True], ids=["pip install .", "pip install -e ."])
def test_install_gives_namespaced_names(tmp_path, editable):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    cmd = [python, "-m", "pip", "install", "-q", "--no-deps"] + (["-e", REPO] if editable else [REPO])
    subprocess.run(cmd, check=True, capture_output=True, timeout=300, cwd=tmp_path)
    result = subprocess.run([python, "-c", CHECK], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == __import__("weave_agent").__version__
    assert sys.executable  # the test venv is separate from the one running the tests

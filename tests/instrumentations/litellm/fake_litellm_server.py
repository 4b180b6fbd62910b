"""The upstream APIs LiteLLM's tests talk to, on 127.0.0.1: OpenAI (and Azure OpenAI) and
Anthropic, each as its API documents it.

LiteLLM is a gateway: what it parses comes from the providers' APIs. The OpenAI and the
Anthropic fakes of this repository (``tests/instrumentations/openai/fake_openai_server.py``,
``tests/instrumentations/anthropic/fake_anthropic_server.py``) already answer exactly as
those APIs do (plain, SSE streams, errors, Azure's deployment paths and headers); this
module starts one of each, on free ports, from daemon threads that stop by themselves.
LiteLLM reaches them through ``api_base=``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _load(name: str, path: Path) -> Any:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


fake_openai = _load("weave_tests_litellm_fake_openai", HERE.parent / "openai" / "fake_openai_server.py")
fake_anthropic = _load("weave_tests_litellm_fake_anthropic", HERE.parent / "anthropic" / "fake_anthropic_server.py")
BEHAVIOR_HEADER = fake_openai.BEHAVIOR_HEADER


class FakeUpstreams:
    """Both fakes, started and stopped together (a context manager)."""

    def __init__(self, lifetime: float = 600.0) -> None:
        self.openai = fake_openai.FakeOpenAIServer(lifetime=lifetime)
        self.anthropic = fake_anthropic.FakeAnthropicServer(lifetime=lifetime)

    @property
    def openai_base(self) -> str:
        return str(self.openai.openai_base_url)  # http://127.0.0.1:PORT/v1

    @property
    def azure_base(self) -> str:
        return str(self.openai.base_url)  # Azure's /openai/deployments/... paths

    @property
    def anthropic_base(self) -> str:
        return self.anthropic.url

    def __enter__(self) -> FakeUpstreams:
        self.openai.start()
        self.anthropic.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.openai.stop()
        self.anthropic.stop()

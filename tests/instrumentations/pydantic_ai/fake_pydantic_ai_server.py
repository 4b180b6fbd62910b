"""The fake API Pydantic AI's model calls reach: the OpenAI API on 127.0.0.1.

Pydantic AI's ``OpenAIChatModel`` talks to any OpenAI-compatible server through the OpenAI
SDK (``AsyncOpenAI.chat.completions.create``), so its fake is the OpenAI fake
(``tests/instrumentations/openai/fake_openai_server.py``), which answers as the API
documents: a function call for every tool offered until the last message is a tool result,
then a text answer from the results; usage on every response (and on the last chunk of a
stream asked for it, as Pydantic AI does); a 401 for a key containing ``invalid``; the
``X-Fake-OpenAI-Behavior`` header forcing a 500 or a stream breaking off. Loaded by path,
so this folder needs nothing of the other one but that file.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

_OPENAI_FAKE = Path(__file__).resolve().parent.parent / "openai" / "fake_openai_server.py"


def _load() -> Any:
    name = "weave_tests_openai_fake_server"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _OPENAI_FAKE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


FakeOpenAIServer = _load().FakeOpenAIServer

__all__ = ["FakeOpenAIServer"]

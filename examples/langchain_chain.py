"""weave-agent with LangChain: a ``prompt | ChatOpenAI | StrOutputParser`` chain, traced
without code changes.

    weave-run python examples/langchain_chain.py      # zero-code start
    python examples/langchain_chain.py                # also works: it calls weave_agent.init()

Needs ``langchain-openai`` and ``vcrpy`` (both in the ``test`` extra). With
``OPENAI_API_KEY`` set it calls the OpenAI API. Without it, it replays the HTTP exchange
recorded in ``examples/cassettes/langchain_chain.yaml`` (a copy of the LangChain tests'
``chain`` cassette, through vcrpy in record mode ``none``): the real SDKs parse a real
response, and nothing leaves the machine.

It prints the answer. The trace: ``RunnableSequence`` with three children,
``ChatPromptTemplate``, ``chat gpt-4o-mini`` (LangChain's chat-model run, and under it the
OpenAI SDK's ``chat gpt-4o-mini`` span with the token usage) and ``StrOutputParser``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from _replay import OPENAI_URL, PLACEHOLDER_KEY, replay

import weave_agent

try:
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_openai import ChatOpenAI
except ImportError:  # pragma: no cover - the message is the point
    sys.exit("this example needs langchain-openai and vcrpy: pip install langchain-openai vcrpy")

weave_agent.init()  # a no-op when started by weave-run

MODEL = "gpt-4o-mini"
TOPIC = "otters"
CASSETTE = Path(__file__).resolve().parent / "cassettes" / "langchain_chain.yaml"

PROMPT = ChatPromptTemplate.from_messages(
    [("system", "You answer in one short sentence."), ("user", "Tell me a fact about {topic}.")]
)


def build_chain(model: ChatOpenAI) -> Any:
    return PROMPT | model | StrOutputParser()


def main() -> int:
    if os.environ.get("OPENAI_API_KEY"):
        print(build_chain(ChatOpenAI(model=MODEL, temperature=0)).invoke({"topic": TOPIC}))
        return 0
    model = ChatOpenAI(
        model=MODEL,
        api_key=PLACEHOLDER_KEY,  # type: ignore[arg-type]
        base_url=OPENAI_URL,
        temperature=0,
        max_retries=0,
    )
    with replay(CASSETTE, "langchain_chain"):
        print(build_chain(model).invoke({"topic": TOPIC}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

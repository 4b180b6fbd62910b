"""The LlamaIndex scenarios, shared by the recorder and the tests.

Each builds real LlamaIndex objects (``llama_index.llms.openai.OpenAI``,
``llama_index.embeddings.openai.OpenAIEmbedding``, a ``VectorStoreIndex``, a
``FunctionAgent`` with a ``FunctionTool``) pointed at OpenAI's default host, or at the
OpenAI tests' local fake server when ``base_url`` says so (the recorder). The OpenAI HTTP
is what the cassettes hold.
"""

from __future__ import annotations

from typing import Any

from llama_index.core import Document, VectorStoreIndex
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.tools import FunctionTool
from llama_index.embeddings.openai import OpenAIEmbedding
from llama_index.llms.openai import OpenAI

OPENAI_KEY = "sk-test-0000"
INVALID_KEY = "sk-invalid-0000"
OPENAI_BASE_URL = "https://api.openai.com/v1"
GPT = "gpt-4o-mini"
EMBEDDING = "text-embedding-3-small"
SECRETS = (OPENAI_KEY, INVALID_KEY)
BEHAVIOR_HEADER = "X-Fake-OpenAI-Behavior"
QUESTION = "What is the capital of France?"
DOCUMENTS = ("Paris is the capital of France.", "Berlin is the capital of Germany.")


def llm(base_url: str | None = None, api_key: str = OPENAI_KEY, behavior: str | None = None) -> OpenAI:
    """The OpenAI LLM. Streams report usage only when asked (``stream_options``, which
    llama-index-llms-openai drops from calls that do not stream)."""
    return OpenAI(
        model=GPT,
        api_key=api_key,
        api_base=base_url or OPENAI_BASE_URL,
        temperature=0,
        max_retries=0,
        default_headers={BEHAVIOR_HEADER: behavior} if behavior else None,
        additional_kwargs={"stream_options": {"include_usage": True}},
    )


def embedding(base_url: str | None = None) -> OpenAIEmbedding:
    return OpenAIEmbedding(model=EMBEDDING, api_key=OPENAI_KEY, api_base=base_url or OPENAI_BASE_URL, max_retries=0)


def messages() -> list[ChatMessage]:
    return [ChatMessage(role="system", content="You answer in one short sentence."),
            ChatMessage(role="user", content="Tell me a fact about otters.")]


def index(base_url: str | None = None) -> VectorStoreIndex:
    return VectorStoreIndex.from_documents([Document(text=t) for t in DOCUMENTS], embed_model=embedding(base_url))


def query_engine(base_url: str | None = None) -> Any:
    return index(base_url).as_query_engine(llm=llm(base_url), similarity_top_k=1)


def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"Sunny and 22 C in {city}"


def agent(base_url: str | None = None) -> FunctionAgent:
    return FunctionAgent(
        name="weather_agent",
        description="Answers questions about the weather.",
        tools=[FunctionTool.from_defaults(get_weather)],
        llm=llm(base_url),
        system_prompt="You are a helpful weather assistant.",
    )


AGENT_QUESTION = "What is the weather in Paris?"


def get_stock_price(symbol: str) -> str:
    """Get the latest stock price for a ticker symbol."""
    raise ValueError(f"the quote service is down for {symbol}")


def failing_agent(base_url: str | None = None) -> FunctionAgent:
    return FunctionAgent(
        name="stock_agent",
        tools=[FunctionTool.from_defaults(get_stock_price)],
        llm=llm(base_url),
        system_prompt="You look up stock prices.",
    )


async def run_failing_agent(base_url: str | None = None) -> Any:
    return await failing_agent(base_url).run(user_msg="What is the price of ACME?")


async def run_agent(base_url: str | None = None) -> Any:
    return await agent(base_url).run(user_msg=AGENT_QUESTION)


def run(name: str, base_url: str | None = None) -> Any:
    import asyncio

    if name == "query":
        return str(query_engine(base_url).query(QUESTION))
    if name == "chat":
        return str(llm(base_url).chat(messages()))
    if name == "stream":
        return "".join(c.delta or "" for c in llm(base_url).stream_chat(messages()))
    if name == "stream_error":
        try:
            return "".join(c.delta or "" for c in llm(base_url, behavior="stream_error").stream_chat(messages()))
        except Exception as exc:
            return repr(exc)
    if name == "error":
        try:
            return llm(base_url, api_key=INVALID_KEY).chat(messages())
        except Exception as exc:
            return repr(exc)
    if name == "agent":
        return str(asyncio.run(run_agent(base_url)))
    if name == "agent_tool_error":
        return str(asyncio.run(run_failing_agent(base_url)))
    raise KeyError(name)


SCENARIOS = ("query", "chat", "stream", "stream_error", "error", "agent", "agent_tool_error")

"""The LangChain scenarios, shared by the recorder and the tests.

Each scenario builds real LangChain objects (``ChatOpenAI``, ``ChatAnthropic``, a
LangGraph graph, an ``InMemoryVectorStore`` with ``DeterministicFakeEmbedding``) pointed
at the vendors' default hosts, or at the local fake servers when ``urls`` says so (the
recorder). The vendor HTTP is what the cassettes hold.
"""

from __future__ import annotations

from typing import Any, TypedDict

from langchain_anthropic import ChatAnthropic
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableConfig, RunnablePassthrough, chain
from langchain_core.tools import tool
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph

OPENAI_KEY = "sk-test-0000"
ANTHROPIC_KEY = "sk-ant-test-0000"
OPENAI_BASE_URL = "https://api.openai.com/v1"
ANTHROPIC_BASE_URL = "https://api.anthropic.com"
GPT = "gpt-4o-mini"
CLAUDE = "claude-haiku-4-5"
SECRETS = (OPENAI_KEY, ANTHROPIC_KEY)


class Urls(TypedDict, total=False):
    openai: str
    anthropic: str


def openai_model(urls: Urls | None = None) -> ChatOpenAI:
    return ChatOpenAI(
        model=GPT,
        api_key=OPENAI_KEY,  # type: ignore[arg-type]
        base_url=(urls or {}).get("openai", OPENAI_BASE_URL),
        temperature=0,
        max_retries=0,
        stream_usage=True,
    )


def anthropic_model(urls: Urls | None = None) -> ChatAnthropic:
    return ChatAnthropic(  # type: ignore[call-arg]
        model=CLAUDE,
        api_key=ANTHROPIC_KEY,  # type: ignore[arg-type]
        base_url=(urls or {}).get("anthropic", ANTHROPIC_BASE_URL),
        max_tokens=256,
        max_retries=0,
    )


PROMPT = ChatPromptTemplate.from_messages(
    [("system", "You answer in one short sentence."), ("user", "Tell me a fact about {topic}.")]
)


def prompt_chain(urls: Urls | None = None) -> Runnable[Any, str]:
    return PROMPT | openai_model(urls) | StrOutputParser()


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"Sunny and 22 C in {city}"


@tool
def get_stock_price(symbol: str) -> str:
    """Get the latest stock price for a ticker symbol."""
    raise ValueError(f"the quote service is down for {symbol}")


def agent_loop(tools: list[Any], urls: Urls | None = None) -> Runnable[str, str]:
    """A tool-calling loop: the model asks for tools, the tools run, the model answers."""
    model = openai_model(urls).bind_tools(tools)
    by_name = {t.name: t for t in tools}

    @chain
    def agent(question: str) -> str:
        messages: list[BaseMessage] = [HumanMessage(question)]
        for _ in range(4):
            ai = model.invoke(messages)
            messages.append(ai)
            assert isinstance(ai, AIMessage)
            if not ai.tool_calls:
                return str(ai.content)
            for call in ai.tool_calls:
                messages.append(by_name[call["name"]].invoke(call))
        return "gave up"

    return agent


DOCS = [
    Document(id="otters", page_content="Sea otters hold hands while they sleep.", metadata={"source": "zoo"}),
    Document(id="owls", page_content="Owls cannot move their eyes.", metadata={"source": "forest"}),
    Document(id="bees", page_content="Bees communicate by dancing.", metadata={"source": "hive"}),
]


def retrieval_chain(urls: Urls | None = None) -> Runnable[str, str]:
    store = InMemoryVectorStore(DeterministicFakeEmbedding(size=16))
    store.add_documents(DOCS)
    retriever = store.as_retriever(search_kwargs={"k": 2})

    def join(docs: list[Document]) -> str:
        return "\n".join(d.page_content for d in docs)

    prompt = ChatPromptTemplate.from_messages([("user", "Context:\n{context}\n\nQuestion: {question}")])
    return {"context": retriever | join, "question": RunnablePassthrough()} | prompt | openai_model(urls) | StrOutputParser()


class DraftState(TypedDict, total=False):
    topic: str
    draft: str
    final: str


def graph(urls: Urls | None = None, pass_config: bool = False) -> Any:
    """A LangGraph graph of two nodes: ``draft`` asks Claude, ``polish`` edits the text.

    ``pass_config``: ``draft`` hands its ``RunnableConfig`` to the model, as LangGraph tells
    apps on Python < 3.11 to do in async graphs (there it cannot make the node's run the
    model's parent through a context variable)."""
    model = anthropic_model(urls)

    def draft(state: DraftState, config: RunnableConfig) -> DraftState:
        reply = model.invoke([HumanMessage(f"Write one sentence about {state['topic']}.")],
                             config if pass_config else None)
        return {"draft": str(reply.content)}

    def polish(state: DraftState) -> DraftState:
        return {"final": state["draft"].strip().upper()}

    builder = StateGraph(DraftState)
    builder.add_node("draft", draft)
    builder.add_node("polish", polish)
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "polish")
    builder.add_edge("polish", END)
    return builder.compile()


def react_agent(urls: Urls | None = None) -> Any:
    """LangGraph's prebuilt ReAct agent (nodes ``agent`` and ``tools``) over ChatOpenAI."""
    import warnings

    from langgraph.prebuilt import create_react_agent

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # moved to langchain.agents (not installed)
        return create_react_agent(openai_model(urls), [get_weather], name="weather_agent")


TOPICS = ["otters", "owls", "bees"]


def run(name: str, urls: Urls | None = None) -> Any:
    """Drive scenario ``name`` synchronously (what the recorder records)."""
    if name == "chain":
        return prompt_chain(urls).invoke({"topic": "otters"})
    if name == "stream":
        return list(prompt_chain(urls).stream({"topic": "otters"}))
    if name == "batch":
        return prompt_chain(urls).batch([{"topic": t} for t in TOPICS], config={"max_concurrency": 2})
    if name == "tools":
        return agent_loop([get_weather], urls).invoke("What is the weather in Paris?")
    if name == "tool_error":
        try:
            return agent_loop([get_stock_price], urls).invoke("What is the price of ACME?")
        except ValueError as exc:
            return exc
    if name == "retrieval":
        return retrieval_chain(urls).invoke("What do otters do?")
    if name == "graph":
        return graph(urls).invoke({"topic": "otters"})
    if name == "react_agent":
        return react_agent(urls).invoke({"messages": [("user", "What is the weather in Paris?")]})
    raise KeyError(name)


SCENARIOS = ("chain", "stream", "batch", "tools", "tool_error", "retrieval", "graph", "react_agent")

"""The OpenAI Agents SDK runs recorded into cassettes (``record_cassettes.py``) and replayed
by ``openai_agents_cassettes_test.py``: each builds the agent against a given base URL
(the fake when recording, OpenAI's own when replaying) and runs it.

* ``tool_loop_responses``: ``Runner.run``, Responses API, one function tool (two model calls);
* ``tool_loop_chat``: the same through ``OpenAIChatCompletionsModel`` (Chat Completions);
* ``tool_loop_streamed``: ``Runner.run_streamed``, Responses API streamed, events read to the end.
"""

from __future__ import annotations

import asyncio
from typing import Any

import openai
from agents import Agent, OpenAIChatCompletionsModel, OpenAIResponsesModel, Runner, function_tool

OPENAI_BASE_URL = "https://api.openai.com/v1"
MODEL = "gpt-4o-mini"
KEY = "sk-test-agents-cassette-0123456789"
SECRETS = (KEY,)
PROMPT = "What is the weather in Paris?"


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return "Sunny, 21 C in %s" % city


def agent(name: str, base_url: str) -> Agent:
    client = openai.AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    model: Any
    if name == "tool_loop_chat":
        model = OpenAIChatCompletionsModel(model=MODEL, openai_client=client)
    else:
        model = OpenAIResponsesModel(model=MODEL, openai_client=client)
    return Agent(name="Assistant", instructions="Answer with the tools.", model=model, tools=[get_weather])


async def _streamed(a: Agent) -> Any:
    result = Runner.run_streamed(a, PROMPT)
    async for _event in result.stream_events():
        pass
    return result


def run(name: str, base_url: str = OPENAI_BASE_URL) -> Any:
    """The run's result (``final_output`` holds the answer)."""
    a = agent(name, base_url)
    if name == "tool_loop_streamed":
        return asyncio.run(_streamed(a))
    return asyncio.run(Runner.run(a, PROMPT))


SCENARIOS = ("tool_loop_responses", "tool_loop_chat", "tool_loop_streamed")

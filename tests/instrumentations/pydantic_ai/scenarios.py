"""Pydantic AI runs recorded into cassettes (``record_cassettes.py``) and replayed by
``pydantic_ai_cassettes_test.py``: each builds the test app (an agent with one
``@agent.tool`` over ``OpenAIChatModel``) against a given base URL (the fake when recording,
OpenAI's own when replaying) and runs it.

* ``tool_loop_run``: ``Agent.run`` (two model calls: a tool call, then the answer);
* ``tool_loop_run_sync``: the same through ``run_sync``;
* ``tool_loop_stream``: ``Agent.run_stream``, the answer's text read to the end.
"""

from __future__ import annotations

import asyncio

import openai
from pydantic_ai import Agent, RunContext
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

OPENAI_BASE_URL = "https://api.openai.com/v1"
MODEL = "gpt-4o-mini"
KEY = "sk-test-pydantic-ai-cassette-0123456789"
SECRETS = (KEY,)
PROMPT = "What is the weather in Paris?"
ANSWER = "Here is what I found: get_weather returned Sunny, 21 C in Paris."


def agent(base_url: str) -> Agent:
    client = openai.AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    weather = Agent(OpenAIChatModel(MODEL, provider=OpenAIProvider(openai_client=client)), name="weather",
                    instructions="Answer with the tools.")

    @weather.tool
    def get_weather(ctx: RunContext[None], city: str) -> str:
        """The weather in a city."""
        return "Sunny, 21 C in %s" % city

    return weather


async def _streamed(a: Agent) -> str:
    async with a.run_stream(PROMPT) as stream:
        return "".join([delta async for delta in stream.stream_text(delta=True)])


def run(name: str, base_url: str = OPENAI_BASE_URL) -> str:
    """The run's output (the answer)."""
    a = agent(base_url)
    if name == "tool_loop_stream":
        return asyncio.run(_streamed(a))
    if name == "tool_loop_run_sync":
        return str(a.run_sync(PROMPT).output)
    return str(asyncio.run(a.run(PROMPT)).output)


SCENARIOS = ("tool_loop_run", "tool_loop_run_sync", "tool_loop_stream")

"""The CrewAI runs recorded into cassettes (``record_cassettes.py``) and replayed by
``crewai_cassettes_test.py``: each builds the two-agent crew (a researcher with a tool, a
writer) against a given base URL (the fake when recording, OpenAI's own when replaying) and
runs it. Three model calls each, every agent with an ``LLM`` of its own.

* ``crew_kickoff``: ``Crew.kickoff``;
* ``crew_akickoff``: ``Crew.akickoff`` (native async);
* ``crew_streamed``: ``Crew(stream=True).kickoff()``, chunks read to the end (streamed chat
  completions with usage).
"""

from __future__ import annotations

import asyncio
from typing import Any

from crewai import LLM, Agent, Crew, Task
from crewai.tools import tool

OPENAI_BASE_URL = "https://api.openai.com/v1"
MODEL = "gpt-4o-mini"
KEY = "sk-test-crewai-cassette-0123456789"
SECRETS = (KEY,)
MODEL_CALLS = 3


@tool("get_weather")
def get_weather(city: str) -> str:
    """The weather in a city."""
    return "Sunny, 21 C in %s" % city


def crew(base_url: str, stream: bool = False) -> Crew:
    def llm() -> Any:
        return LLM(model=MODEL, base_url=base_url, api_key=KEY, max_retries=0)

    researcher = Agent(role="Researcher", goal="Find the weather", backstory="A meteorologist.", llm=llm(),
                       tools=[get_weather], verbose=False)
    writer = Agent(role="Writer", goal="Write one line", backstory="A poet.", llm=llm(), verbose=False)
    tasks = [
        Task(description="What is the weather in Paris?", expected_output="The weather.", agent=researcher),
        Task(description="Write one line about it.", expected_output="One line.", agent=writer),
    ]
    return Crew(agents=[researcher, writer], tasks=tasks, verbose=False, stream=stream)


def run(name: str, base_url: str = OPENAI_BASE_URL) -> Any:
    """The crew's output (``raw`` holds the writer's line)."""
    if name == "crew_akickoff":
        return asyncio.run(crew(base_url).akickoff())
    if name == "crew_streamed":
        streaming = crew(base_url, stream=True).kickoff()
        for _chunk in streaming:
            pass
        return streaming.result
    return crew(base_url).kickoff()


SCENARIOS = ("crew_kickoff", "crew_akickoff", "crew_streamed")

"""weave-agent quickstart: an OpenAI chat call and a streamed one, traced without code changes.

    weave-run python examples/quickstart.py      # zero-code start
    python examples/quickstart.py                # also works: it calls weave_agent.init()

With ``OPENAI_API_KEY`` set it calls the OpenAI API. Without it, it replays the HTTP
exchange recorded in ``examples/cassettes/quickstart.yaml`` (through vcrpy, record mode
``none``): the real ``openai`` SDK parses real responses, and nothing leaves the machine.
(The recording was made against a local fake API: ``python examples/record_quickstart.py``.)

It prints the answer. The trace: one span ``answer`` (the ``@op`` below) with two child
spans ``chat gpt-4o-mini``, one of them streamed, with token usage; they land in
``./weave-traces/`` (OTLP-JSON) unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from _replay import OPENAI_URL, PLACEHOLDER_KEY, replay

import weave_agent
from weave_agent import op

try:
    from openai import OpenAI
except ImportError:  # pragma: no cover - the message is the point
    sys.exit("the quickstart needs the openai SDK and vcrpy: pip install '.[quickstart]' (from the repository root)")

weave_agent.init()  # a no-op when started by weave-run

MODEL = "gpt-4o-mini"
QUESTION = "What is the capital of France?"
FOLLOW_UP = "Now write a haiku about the sea."
CASSETTE = Path(__file__).resolve().parent / "cassettes" / "quickstart.yaml"

client: OpenAI | None = None  # set in main(): the real API with a key, else the recording


@op
def answer(question: str) -> str:
    """One chat completion, then a streamed follow-up: two LLM spans under this one."""
    assert client is not None
    reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": question}])
    text = reply.choices[0].message.content or ""

    stream = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "user", "content": question},
            {"role": "assistant", "content": text},
            {"role": "user", "content": FOLLOW_UP},
        ],
        stream=True,
        stream_options={"include_usage": True},  # the last chunk carries the token counts
    )
    haiku = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    return "%s\n\n%s" % (text, haiku)


def main() -> int:
    global client
    if os.environ.get("OPENAI_API_KEY"):
        client = OpenAI()
        print(answer(QUESTION))
        return 0
    client = OpenAI(api_key=PLACEHOLDER_KEY, base_url=OPENAI_URL, max_retries=0)
    with replay(CASSETTE, "quickstart"):
        print(answer(QUESTION))
    return 0


if __name__ == "__main__":
    sys.exit(main())

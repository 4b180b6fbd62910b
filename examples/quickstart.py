"""weave-agent quickstart: trace your own functions, no vendor SDK, no network.

    weave-run python examples/quickstart.py      # zero-code start
    python examples/quickstart.py                # also works: it calls weave_agent.init()

Spans land in ./weave-traces/ (OTLP-JSON) unless OTEL_EXPORTER_OTLP_ENDPOINT is set.
"""

import weave_agent
from weave_agent import op

weave_agent.init()  # a no-op when started by weave-run


@op
def retrieve(question: str) -> list[str]:
    return ["OpenTelemetry is a CNCF project.", "OTLP is its wire protocol."]


@op(accumulator=lambda text, chunk: (text or "") + chunk)
def stream_answer(question: str, context: list[str]):
    # A stand-in for a streamed model answer: an iterator of chunks.
    return iter(["OTLP ", "is ", "OpenTelemetry's ", "protocol."])


@op
def answer(question: str) -> str:
    context = retrieve(question)
    return "".join(stream_answer(question, context))


if __name__ == "__main__":
    print(answer("What is OTLP?"))

"""Record ``examples/cassettes/quickstart.yaml`` against the local fake OpenAI API.

    python examples/record_quickstart.py

Never against api.openai.com: the fake server of the OpenAI instrumentation tests
(``tests/instrumentations/openai/fake_openai_server.py``) answers, the real ``openai`` SDK
drives the very calls of ``quickstart.answer()``, and vcrpy (record mode ``all``) writes
them with the test recorder's rules: request URIs moved to ``https://api.openai.com/v1`` so
that the quickstart's replay matches, credentials and account headers dropped, and the
cassette checked for keys and the fake host afterwards. Needs the test extra
(``pip install -e ".[test]"``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OPENAI_TESTS = HERE.parent / "tests" / "instrumentations" / "openai"
sys.path[:0] = [str(HERE), str(OPENAI_TESTS)]
os.environ["WEAVE_AGENT_ENABLED"] = "false"  # record the SDK's traffic only: no tracing here

import quickstart  # noqa: E402
import record_cassettes as rec  # noqa: E402
import vcr  # noqa: E402
from fake_openai_server import FakeOpenAIServer  # noqa: E402
from openai import OpenAI  # noqa: E402


def main() -> int:
    cassette = quickstart.CASSETTE
    cassette.parent.mkdir(parents=True, exist_ok=True)
    if cassette.exists():
        cassette.unlink()
    with FakeOpenAIServer(lifetime=60) as server:
        recorder = vcr.VCR(
            record_mode="all",
            match_on=rec.MATCH_ON,
            filter_headers=list(rec.FILTERED_HEADERS),
            before_record_request=rec._rewriter(server, "openai"),
            before_record_response=rec._strip_response_headers,
            decode_compressed_response=True,
        )
        quickstart.client = OpenAI(api_key=rec.FAKE_API_KEY, base_url=server.openai_base_url, max_retries=0)
        try:
            with recorder.use_cassette(str(cassette)) as recorded:
                text = quickstart.answer(quickstart.QUESTION)
                count = len(recorded)
        finally:
            quickstart.client.close()
    if count != 2:
        print("expected 2 interactions (a call and a streamed call), recorded %d" % count, file=sys.stderr)
        return 1
    problems = rec.check_cassette(cassette)
    for problem in problems:
        print("PROBLEM:", problem, file=sys.stderr)
    print(
        "recorded %s (%d interactions); the quickstart will print:\n%s"
        % (cassette.relative_to(HERE.parent), count, text)
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""Replaying an example's recorded OpenAI HTTP when ``OPENAI_API_KEY`` is not set.

vcrpy in record mode ``none``: requests to api.openai.com are answered from the cassette
in order, and a request it does not hold fails instead of going out. The real SDKs parse
real responses, and nothing leaves the machine.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

OPENAI_URL = "https://api.openai.com/v1"  # the recording's host
PLACEHOLDER_KEY = "replay-only"  # never sent anywhere: every request is answered locally


def replay(cassette: Path, example: str) -> Any:
    """A context manager replaying ``cassette``; says on stderr that it does."""
    try:
        import vcr
    except ImportError:
        sys.exit("replaying the recording needs vcrpy: pip install '.[quickstart]' (or set OPENAI_API_KEY)")
    try:
        shown = cassette.relative_to(Path.cwd())
    except ValueError:
        shown = cassette
    print(
        "%s: OPENAI_API_KEY is not set: replaying the HTTP recorded in %s (set it to call the API)" % (example, shown),
        file=sys.stderr,
    )

    def only_openai(request: Any) -> Any:
        # Other traffic (an OTLP exporter, say) is not the recording's business.
        return request if request.host == "api.openai.com" else None

    recorder = vcr.VCR(
        record_mode="none",
        match_on=("method", "scheme", "host", "port", "path", "query"),
        before_record_request=only_openai,
    )
    return recorder.use_cassette(str(cassette))

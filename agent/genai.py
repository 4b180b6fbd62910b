"""What an instrumentation writes: ``Extractor``, ``genai_op`` and the GenAI helpers.

A documented public name kept at the top of the package; the code lives in
``weave_agent.tracing.genai``.
"""

from .tracing.genai import (  # noqa: F401
    CONTENT_EVENT,
    INPUT_MESSAGES,
    OUTPUT_MESSAGES,
    SYSTEM_INSTRUCTIONS,
    TOOL_DEFINITIONS,
    Extractor,
    GenAISpec,
    Request,
    Response,
    Usage,
    field,
    genai_op,
    is_number,
    parse_arguments,
    sdk_span_seen,
    sequence,
    server_of,
    stop_sequences,
    text_part,
    tool_call_part,
    watch_for_sdk_span,
)

__all__ = [
    "CONTENT_EVENT",
    "Extractor",
    "GenAISpec",
    "INPUT_MESSAGES",
    "OUTPUT_MESSAGES",
    "Request",
    "Response",
    "SYSTEM_INSTRUCTIONS",
    "TOOL_DEFINITIONS",
    "Usage",
    "field",
    "genai_op",
    "is_number",
    "parse_arguments",
    "sdk_span_seen",
    "sequence",
    "server_of",
    "stop_sequences",
    "text_part",
    "tool_call_part",
    "watch_for_sdk_span",
]

"""Stage 2, calls to spans: what happens inside a patched call.

``calls`` (``op``, ``OpSpec`` and the wrappers: one span per call, ended once),
``streams`` (transparent proxies that end a streamed call's span however the stream
ends), ``genai`` (the ``Extractor`` an instrumentation writes, turned into GenAI
semantic-convention spans, metrics and events), ``conventions`` (which GenAI names the
spans carry under ``WEAVE_AGENT_GENAI_CONVENTIONS``), ``serialize`` (values to bounded
JSON, secrets removed). Imported when the first traced call is wrapped, never at bootstrap.
"""

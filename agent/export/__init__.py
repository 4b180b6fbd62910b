"""Stage 3, the telemetry pipeline: from ended spans to a trace server or a file.

``telemetry`` (providers, tracer and meters, flush, the exit flush, fork), ``health``
(exporter guards: failures logged once, drops counted), ``metric_queue`` (metric points
queued on the call, recorded at collection), ``genai_metrics`` (the GenAI instruments under
the conventions setting, one queued entry per call), ``events`` (the GenAI events as log
records, the logger provider), ``otlp_json``, ``metrics_file`` and ``logs_file`` (the
local OTLP-JSON files), ``local_files`` (their writing: whole lines, a reserve of free
space, the folder's cap), ``handoff`` (the agent's providers give the global place to the
app's), ``forks`` (a forked child re-initializes the pipeline on first use),
``signal_mask`` (SIGTERM/SIGINT kept from the agent's threads), ``destinations`` (W&B
Weave's endpoint and resource). This
stage imports no other stage: what must run at exit registers itself
(``telemetry.before_exit``).
"""

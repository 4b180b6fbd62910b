"""The GenAI client metrics: which instruments exist under the conventions setting, and
how the points of one call reach them.

``WEAVE_AGENT_GENAI_CONVENTIONS`` chooses the names:

* ``newest`` (the conventions' repository, ``open-telemetry/semantic-conventions-genai``):
  ``gen_ai.client.inference.duration``, ``.time_to_first_chunk`` and
  ``.time_per_output_chunk`` (histograms, seconds); the counters
  ``gen_ai.client.inference.usage.input_tokens``, ``.output_tokens``,
  ``.cache_read.input_tokens``, ``.cache_write.input_tokens`` and
  ``.reasoning.output_tokens`` (``gen_ai.token.modality`` is ``unknown``: no provider the
  agent reads breaks usage down by modality), recorded for every inference, failed ones
  too, with 0 for what the provider did not report; the per-operation histograms
  ``gen_ai.client.inference.operation.input_tokens``/``.output_tokens``; for embeddings
  ``gen_ai.client.embeddings.duration`` and ``gen_ai.client.embeddings.operation.input_tokens``.
* ``v1.41`` (the last core release that defined them): ``gen_ai.client.operation.duration``,
  ``gen_ai.client.token.usage`` (``gen_ai.token.type``, only from real provider counts),
  ``gen_ai.client.operation.time_to_first_chunk`` and ``.time_per_output_chunk``.
* ``both``: every one of them, for a migration.

Cost. A call appends one entry to ``metric_queue`` (one tuple), however many points the
conventions make of it (up to eight, and one per chunk gap of a stream); the entry becomes
points when a reader collects. The counters' increments of one drain are summed per series
first: the SDK sees one ``add`` per series and collection, not one per call.
"""

from __future__ import annotations

import threading
from typing import Any

DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)

NEWEST, V1_41, BOTH = "newest", "v1.41", "both"

# What a queued entry is.
INFERENCE = "inference"  # a model call: duration and token usage
EMBEDDINGS = "embeddings"
# A model call whose usage another span records: an SDK call without usage under a
# framework's model span (DURATION), and that framework span then (USAGE): one model call
# is one operation, however many spans see it.
DURATION = "duration"
USAGE = "usage"
STREAM = "stream"  # time to first chunk and one point per chunk gap

# The usage counters, in the order of ``Usage.counts()``.
USAGE_COUNTERS = (
    ("gen_ai.client.inference.usage.input_tokens", "The number of input (prompt) tokens used, including cached tokens"),
    ("gen_ai.client.inference.usage.output_tokens", "The number of output (completion) tokens used, including reasoning tokens"),
    ("gen_ai.client.inference.usage.cache_read.input_tokens", "The number of input tokens served from a provider-managed cache"),
    ("gen_ai.client.inference.usage.cache_write.input_tokens", "The number of input tokens written to a provider-managed cache"),
    ("gen_ai.client.inference.usage.reasoning.output_tokens", "The number of output tokens used for reasoning"),
)

ERROR_TYPE = "error.type"
MODALITY = "gen_ai.token.modality"


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _without_error(attributes: dict[str, Any]) -> dict[str, Any]:
    if ERROR_TYPE not in attributes:
        return attributes
    return {k: v for k, v in attributes.items() if k != ERROR_TYPE}


class Recorder:
    """The SDK instruments of one meter, and what a queued entry records into them. Runs
    when a reader collects (``metric_queue.drain``), never on the call path."""

    def __init__(self, meter: Any, conventions: str) -> None:
        self.newest = conventions in (NEWEST, BOTH)
        self.old = conventions in (V1_41, BOTH)
        self._lock = threading.Lock()
        self._sums: dict[tuple[Any, ...], tuple[dict[str, Any], list[int]]] = {}
        if self.newest:
            self._create_newest(meter)
        if self.old:
            self._create_old(meter)

    def _create_newest(self, meter: Any) -> None:
        def seconds(name: str, description: str) -> Any:
            return meter.create_histogram(name, unit="s", description=description,
                                          explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS))

        def tokens(name: str, description: str) -> Any:
            return meter.create_histogram(name, unit="{token}", description=description,
                                          explicit_bucket_boundaries_advisory=list(TOKEN_BUCKETS))

        self.duration = seconds("gen_ai.client.inference.duration", "GenAI client inference operation duration")
        self.time_to_first_chunk = seconds(
            "gen_ai.client.inference.time_to_first_chunk",
            "Time to receive the first chunk, from the request to the first chunk of the response stream")
        self.time_per_output_chunk = seconds(
            "gen_ai.client.inference.time_per_output_chunk",
            "Time per output chunk, from the end of the previous chunk to the end of this one")
        self.usage = [meter.create_counter(name, unit="{token}", description=description)
                      for name, description in USAGE_COUNTERS]
        self.operation_input = tokens("gen_ai.client.inference.operation.input_tokens",
                                      "The number of input (prompt) tokens used per inference operation")
        self.operation_output = tokens("gen_ai.client.inference.operation.output_tokens",
                                       "The number of output (completion) tokens used per inference operation")
        self.embeddings_duration = seconds("gen_ai.client.embeddings.duration",
                                           "GenAI client embeddings operation duration")
        self.embeddings_input = tokens("gen_ai.client.embeddings.operation.input_tokens",
                                       "The number of input tokens used per embeddings operation")

    def _create_old(self, meter: Any) -> None:
        self.old_duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS))
        self.old_tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=list(TOKEN_BUCKETS))
        self.old_time_to_first_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk", unit="s",
            description="Time to receive the first chunk of a streamed response",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS))
        self.old_time_per_output_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_per_output_chunk", unit="s",
            description="Time between consecutive chunks of a streamed response",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS))

    # --- one queued entry -------------------------------------------------------------

    def record(self, payload: tuple[Any, ...], attributes: dict[str, Any]) -> None:
        """``metric_queue``'s call: ``payload`` is ``(kind, ...)`` as the ``Instruments``
        methods queued it."""
        kind = payload[0]
        if kind == STREAM:
            self._stream(payload[1], payload[2], attributes)
        else:
            self._call(kind, payload[1], payload[2], attributes)

    def _call(self, kind: str, seconds: float | None, usage: Any, attributes: dict[str, Any]) -> None:
        counts = tuple(_count(c) for c in usage) if usage is not None else (None,) * 5
        if self.old:
            if seconds is not None:
                self.old_duration.record(seconds, attributes)
            for token_type, count in (("input", counts[0]), ("output", counts[1])):
                if count is not None:
                    self.old_tokens.record(count, {**attributes, "gen_ai.token.type": token_type})
        if not self.newest:
            return
        if kind == EMBEDDINGS:
            if seconds is not None:
                self.embeddings_duration.record(seconds, attributes)
            if counts[0] is not None:
                self.embeddings_input.record(counts[0], _without_error(attributes))
            return
        if seconds is not None:
            self.duration.record(seconds, attributes)
        if kind != DURATION:
            # Every inference, failed ones too: 0 when the response carried no count.
            self.operation_input.record(counts[0] or 0, attributes)
            self.operation_output.record(counts[1] or 0, attributes)
            self._add_usage(attributes, [c or 0 for c in counts])

    def _add_usage(self, attributes: dict[str, Any], counts: list[int]) -> None:
        series = dict(_without_error(attributes))
        series[MODALITY] = "unknown"
        try:
            key = tuple(sorted(series.items()))
            hash(key)
        except TypeError:  # an unhashable attribute value: add them at once
            for counter, count in zip(self.usage, counts, strict=True):
                counter.add(count, series)
            return
        with self._lock:
            found = self._sums.get(key)
            if found is None:
                self._sums[key] = (series, counts)
            else:
                total = found[1]
                for i, count in enumerate(counts):
                    total[i] += count
        _pending_sums.add(self)

    def flush(self) -> None:
        """Hand the SDK the usage summed since the last flush: one ``add`` per series."""
        with self._lock:
            sums, self._sums = self._sums, {}
        for series, counts in sums.values():
            for counter, count in zip(self.usage, counts, strict=True):
                counter.add(count, series)

    def _stream(self, first: float, times: Any, attributes: dict[str, Any]) -> None:
        attributes = _without_error(attributes)
        targets = []
        if self.newest:
            self.time_to_first_chunk.record(first, attributes)
            targets.append(self.time_per_output_chunk.record)
        if self.old:
            self.old_time_to_first_chunk.record(first, attributes)
            targets.append(self.old_time_per_output_chunk.record)
        if not times or len(times) < 2:
            return
        previous = times[0]
        for now in times[1:]:  # one point per chunk after the first, as the conventions say
            gap = now - previous
            previous = now
            for record in targets:
                record(gap, attributes)


# Recorders holding usage sums of the drain under way (flushed when it ends).
_pending_sums: set[Recorder] = set()


def flush_pending() -> None:
    """``metric_queue``'s after-drain hook."""
    while _pending_sums:
        try:
            recorder = _pending_sums.pop()
        except KeyError:
            return
        recorder.flush()

"""A trace server that fails in every way a real one does never breaks or slows the app.

Each case runs a real app (``@op`` calls in a subprocess, the agent exporting OTLP) against
``fake_trace_server`` and checks the five promises at once:

- the app's time inside its calls stays that of a run with ``WEAVE_AGENT_EXPORTER=none``
  (export runs on the batch processor's thread; no call waits for the exporter timeout);
- spans made while the server answers are delivered (decoded on the server side);
- retryable failures are retried with growing gaps, ``Retry-After`` is honoured;
- the process exits within ``WEAVE_AGENT_EXIT_TIMEOUT`` after the app's last line;
- stderr carries one ``weave-agent:`` line per failure kind, no traceback per batch.

Timing bounds are loose on purpose (two cores shared with other jobs): they catch a call
that blocks on the network (seconds), not a few percent.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest
from _subproc import clean_env, run_python
from fake_trace_server import HANG, OK, FakeTraceServer, garbage_body, not_http, status

N = 2000  # spans per run, in chunks with a pause between (the app "keeps working")
CHUNK = 100
APP = """
import json, os, sys, time
import weave_agent
from weave_agent import op

n, chunk, pause = (float(x) for x in sys.argv[1:4])
if os.environ.get("WEAVE_AGENT_FAULT_INJECTION"):
    from weave_agent import faults
    if hasattr(faults, "SITES"):
        faults.SITES = frozenset({"exporter"})  # only the exporter raises: spans do reach it

@op(name="work")
def work(i):
    return i * 2

work(-1)  # the pipeline is set up on the first call: not part of the measure
in_calls = worst = 0.0
chunks = []
total = 0
for start in range(0, int(n), int(chunk)):
    t0 = time.perf_counter()
    for i in range(start, min(int(n), start + int(chunk))):
        c0 = time.perf_counter()
        total += work(i)
        worst = max(worst, time.perf_counter() - c0)
    in_calls += time.perf_counter() - t0
    chunks.append([start, time.time()])
    time.sleep(pause)
time.sleep(float(os.environ.get("APP_LINGER", "0")))
print(json.dumps({"in_calls": in_calls, "worst": worst, "total": total, "chunks": chunks, "end": time.time()}))
"""

EXPECTED_TOTAL = sum(i * 2 for i in range(N))
EXIT_SLACK = 2.0  # interpreter teardown on a loaded machine, on top of the exit timeout


@dataclass
class Run:
    rc: int
    out: dict[str, Any]
    stderr: str
    exit_seconds: float  # from the app's last line to the process gone

    @property
    def agent_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def run_app(endpoint: str | None, *, pause: float = 0.05, exit_timeout: float = 2.0, **env: str) -> Run:
    full = {
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "WEAVE_AGENT_EXIT_TIMEOUT": str(exit_timeout),
        **env,  # OTEL_EXPORTER_OTLP_TIMEOUT: the default, 10 s, unless a case sets it
    }
    if endpoint is not None:
        full["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    result = run_python(APP, args=(N, CHUNK, pause), env=clean_env(**full), timeout=60)
    gone = time.time()
    assert result.returncode == 0, result
    out = result.json()
    assert isinstance(out, dict)
    assert out["total"] == EXPECTED_TOTAL, result  # the app computed what it computes without the agent
    run = Run(result.returncode, out, result.stderr, gone - out["end"])
    print("in calls %.3f s, slowest call %.4f s, exit %.2f s" % (out["in_calls"], out["worst"], run.exit_seconds))
    return run


@pytest.fixture(scope="module")
def baseline() -> Run:
    return run_app(None, WEAVE_AGENT_EXPORTER="none")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assert_not_slowed(run: Run, baseline: Run) -> None:
    """The calls took about as long as with no exporter, and none waited on the network."""
    assert run.out["in_calls"] <= 2.0 * baseline.out["in_calls"] + 0.4, (run.out["in_calls"], baseline.out["in_calls"])
    assert run.out["worst"] < 1.0, run.out["worst"]  # exporter timeouts are 2 s or more, backoffs 1 s or more


def assert_exits_in_time(run: Run, exit_timeout: float = 2.0) -> None:
    assert run.exit_seconds < exit_timeout + EXIT_SLACK, run.exit_seconds


def assert_one_line_per_kind(run: Run, *kinds: str) -> None:
    """Only concise agent lines, and each expected failure kind exactly once."""
    for noise in ("Traceback", "Transient error", "Failed to export", "Exception while exporting", "Queue full"):
        assert noise not in run.stderr, run.stderr
    assert all(line.startswith("weave-agent: ") for line in run.agent_lines), run.stderr
    failures = [line for line in run.agent_lines if " failed: " in line]
    for kind in kinds:
        assert sum(kind in line for line in failures) == 1, (kind, run.stderr)
    assert len(failures) == len(kinds), run.stderr


def gaps(times: list[float]) -> list[float]:
    """Gaps between retries; the exporter resends a dropped connection once at once, not counted."""
    return [b - a for a, b in zip(times, times[1:], strict=False) if b - a > 0.3]


def delivered_ok(server: FakeTraceServer) -> set[int]:
    """The app's call numbers whose spans arrived (``work(i)`` records ``{"i": i}``)."""
    found = set()
    for value in server.delivered_inputs():
        if isinstance(value, dict) and isinstance(value.get("i"), int) and value["i"] >= 0:
            found.add(value["i"])
    return found


# --- the faults -------------------------------------------------------------------


def test_refused_connections(baseline: Run) -> None:
    run = run_app("http://127.0.0.1:%d" % free_port(), exit_timeout=1)
    assert_not_slowed(run, baseline)
    assert_exits_in_time(run, 1)
    assert_one_line_per_kind(run, "unreachable")
    assert "127.0.0.1" in run.stderr


def test_refused_connections_grpc(baseline: Run) -> None:
    run = run_app("http://127.0.0.1:%d" % free_port(), exit_timeout=1, OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
    assert_not_slowed(run, baseline)
    assert_exits_in_time(run, 1)
    assert_one_line_per_kind(run, "UNAVAILABLE")


def test_accepts_and_never_answers(baseline: Run) -> None:
    with FakeTraceServer(lambda n, path: HANG) as server:
        # The first export gives up 2 s in, while the app still runs (it lingers 1.5 s).
        run = run_app(server.endpoint, exit_timeout=1, OTEL_EXPORTER_OTLP_TIMEOUT="2", APP_LINGER="1.5")
        assert server.attempts(), "the exporter never reached the server"
    assert_not_slowed(run, baseline)
    assert_exits_in_time(run, 1)
    assert_one_line_per_kind(run, "timeout")


def test_http_500_is_not_retried_and_later_batches_are_delivered(baseline: Run) -> None:
    with FakeTraceServer(lambda n, path: status(500) if n <= 2 else OK) as server:
        run = run_app(server.endpoint)
        attempts = server.attempts()
        delivered = delivered_ok(server)
    assert_not_slowed(run, baseline)
    assert_exits_in_time(run)
    assert_one_line_per_kind(run, "HTTP status 500")
    # A 500 is final: the first two batches were sent once each, not retried.
    assert [a.action for a in attempts[:3]] == ["status:500", "status:500", "status:200"]
    assert attempts[0].digest != attempts[1].digest  # the second 500 was another batch, not a retry
    assert N - 1 in delivered and len(delivered) >= N - 2 * 512, len(delivered)
    assert sum("recovered after 2 failed attempts" in line for line in run.agent_lines) == 1, run.stderr


def test_http_503_is_retried_with_growing_backoff(baseline: Run) -> None:
    with FakeTraceServer(lambda n, path: status(503) if n <= 2 else OK) as server:
        run = run_app(server.endpoint, exit_timeout=5)
        attempts = server.attempts()
        delivered = delivered_ok(server)
    assert_not_slowed(run, baseline)
    assert_exits_in_time(run, 5)
    assert_one_line_per_kind(run, "HTTP status 503")
    assert len({a.digest for a in attempts[:3]}) == 1  # one batch, sent three times
    g = gaps([a.at for a in attempts[:3]])
    assert len(g) == 2 and 0.7 < g[0] < 1.4 and 1.5 < g[1] < 2.6 and g[1] > g[0], g  # 1 s then 2 s, +-20 %
    assert delivered == set(range(N)), N - len(delivered)  # the retried batch too: nothing lost


def test_http_429_retry_after_is_honoured(baseline: Run) -> None:
    # Retry-After: 1 three times: gaps of 1 s, 1 s, 1 s (the backoff alone would wait 1, 2, 4 s).
    script = lambda n, path: status(429, Retry_After="1") if n <= 3 else OK  # noqa: E731
    with FakeTraceServer(script) as server:
        run = run_app(server.endpoint, exit_timeout=5)
        attempts = server.attempts()
        delivered = delivered_ok(server)
    assert_not_slowed(run, baseline)
    assert_exits_in_time(run, 5)
    assert_one_line_per_kind(run, "HTTP status 429")
    assert len({a.digest for a in attempts[:4]}) == 1  # one batch, sent four times
    g = gaps([a.at for a in attempts[:4]])
    assert len(g) == 3 and all(0.8 < x < 1.45 for x in g), g
    assert delivered == set(range(N)), N - len(delivered)


def test_garbage_answers(baseline: Run) -> None:
    # Bytes that are not HTTP (twice: the exporter resends a broken connection once at
    # once), then a 200 whose body is not protobuf, then proper answers.
    def script(n: int, path: str) -> Any:
        if path != "/v1/traces":
            return OK
        return not_http() if n <= 2 else garbage_body() if n == 3 else OK

    with FakeTraceServer(script) as server:
        run = run_app(server.endpoint, exit_timeout=4)
        delivered = delivered_ok(server)
    assert_not_slowed(run, baseline)
    assert_exits_in_time(run, 4)
    assert_one_line_per_kind(run, "invalid or no response")
    assert delivered == set(range(N)), N - len(delivered)


def test_server_goes_away_and_comes_back(baseline: Run) -> None:
    """Down for 1.5 s early in a 3 s run: spans ended after it is back are all delivered."""
    back_at: list[float] = []
    with FakeTraceServer() as server:

        def outage() -> None:
            deadline = time.time() + 20
            while not server.attempts() and time.time() < deadline:
                time.sleep(0.02)
            server.go_away()
            time.sleep(1.5)
            server.come_back()
            back_at.append(time.time())

        thread = threading.Thread(target=outage, daemon=True)
        thread.start()
        run = run_app(server.endpoint, pause=0.15, exit_timeout=5)
        thread.join(5)
        delivered = delivered_ok(server)
    assert back_at, "the outage never happened"
    assert_not_slowed(run, baseline)
    assert_exits_in_time(run, 5)
    assert_one_line_per_kind(run, "unreachable")
    produced_after = {
        i for start, at in run.out["chunks"] if at > back_at[0] for i in range(start, start + CHUNK)
    }
    assert len(produced_after) >= N // 4, "the run ended too soon after the server came back"
    assert produced_after <= delivered, len(produced_after - delivered)
    assert sum("recovered after" in line for line in run.agent_lines) == 1, run.stderr


def test_queue_overflow_drops_counts_and_reports(baseline: Run) -> None:
    """The server holds every trace request: the queue fills, spans are dropped and counted
    (exit line and ``weave_agent.spans.dropped``), and the app never waits."""
    script = lambda n, path: HANG if path == "/v1/traces" else OK  # noqa: E731
    with FakeTraceServer(script) as server:
        run = run_app(
            server.endpoint,
            pause=0.0,
            OTEL_EXPORTER_OTLP_TIMEOUT="2",
            OTEL_BSP_MAX_QUEUE_SIZE="200",
            OTEL_BSP_MAX_EXPORT_BATCH_SIZE="50",
            OTEL_METRIC_EXPORT_INTERVAL="300",
            APP_LINGER="1.0",  # a metric export happens after the last drop
        )
        points = server.metric_points("weave_agent.spans.dropped")
    assert_not_slowed(run, baseline)
    assert_exits_in_time(run)
    # The held request may end before the exit or not: a timeout line at most, nothing else.
    assert_one_line_per_kind(run, *(["timeout"] if "failed: timeout" in run.stderr else []))
    (line,) = [line for line in run.agent_lines if "spans dropped" in line]
    assert "the export queue was full (OTEL_BSP_MAX_QUEUE_SIZE=200)" in line, line
    dropped = int(line.split("weave-agent: ")[1].split()[0])
    # N + 1 spans, at most a queue and one batch held: the rest is dropped, and counted exactly.
    assert N + 1 - 200 - 2 * 50 <= dropped <= N + 1 - 200, dropped
    assert points and points[-1] == dropped, (points, dropped)


def test_exporter_that_raises_is_contained(baseline: Run) -> None:
    with FakeTraceServer() as server:
        run = run_app(server.endpoint, WEAVE_AGENT_FAULT_INJECTION="true")
        assert not server.attempts(), "the exporter under fault injection must not send"
    assert run.rc == 0  # and run_app checked the app's own result
    assert_not_slowed(run, baseline)
    assert_exits_in_time(run)
    assert_one_line_per_kind(run, "InjectedFault")


def test_baseline_is_quiet(baseline: Run) -> None:
    """The reference run: nothing on stderr, so every line above comes from a fault."""
    assert baseline.stderr.strip() == "", baseline.stderr
    assert json.dumps(baseline.out)

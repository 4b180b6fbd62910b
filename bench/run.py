"""This agent next to its peers, on the same work: start-up, time to enable, per call, per chunk, memory.

    python bench/run.py [--quick] [--variants a,b] [--clock cpu|wall] [--rebuild-venvs] [--no-docs]
                        [--strict] [--json PATH]

One virtual environment per variant (``bench/.venvs/peer-<variant>``, cached, git-ignored), all
with the same openai and opentelemetry-sdk (``bench/requirements-peers.txt``) plus the variant's
own file: baseline (nothing else), weave-agent (the repository, non-editable), otel-contrib
(``opentelemetry-instrumentation-openai-v2``), openllmetry (``opentelemetry-instrumentation-openai``),
openinference (``openinference-instrumentation-openai``) and ddtrace. Content capture is on for
every variant. Every figure is a median over rounds interleaved across the variants (each round
runs one fresh worker process per variant, ``bench/_peer_worker.py``, the order rotated each
round), reported as the difference from the baseline and as a ratio:

* start-up: ``python -c "import openai"`` and ``python -c pass`` with the variant's bootstrap on
  ``PYTHONPATH`` (wall clock of the child);
* time to enable: the import of the instrumentation and its enable call, in-process;
* per call of ``chat.completions.create`` and per chunk of a consumed 1,000-chunk stream, against
  an in-process ``httpx2.MockTransport`` (process CPU time by default);
* peak RSS (``ru_maxrss``) of a fresh process after 2,000 calls;
* the physical floor, in the same workers: a bare call, a no-op ``wrapt`` wrapper, one raw SDK
  span with the variant's own call-span attributes.

A variant whose calls produce no span, or spans without the prompt and the completion, is
reported as broken, not fast. Prints the table, writes bench/results/peers.json and, on full runs,
the ``<!-- peers:begin -->`` section of docs/benchmarks.md and docs/benchmarks.png.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _stats
import _venvs

REPO = _venvs.REPO
WORKER = os.path.join(_stats.HERE, "_peer_worker.py")
PLOTTER = os.path.join(_stats.HERE, "_peer_plot.py")
DOCS = os.path.join(REPO, "docs", "benchmarks.md")
CHART = os.path.join(REPO, "docs", "benchmarks.png")
BEGIN, END = "<!-- peers:begin -->", "<!-- peers:end -->"

VARIANTS = ("baseline", "weave-agent", "otel-contrib", "openllmetry", "openinference", "ddtrace")
LABELS = {
    "baseline": "no instrumentation",
    "weave-agent": "weave-agent (this repository)",
    "otel-contrib": "opentelemetry-instrumentation-openai-v2 (OTel contrib)",
    "openllmetry": "opentelemetry-instrumentation-openai (OpenLLMetry)",
    "openinference": "openinference-instrumentation-openai (Arize)",
    "ddtrace": "ddtrace (Datadog, LLM Observability on)",
}
# How each variant is enabled: at start-up (its bootstrap on PYTHONPATH) and in-process.
ENABLED_BY = {
    "baseline": ("-", "-"),
    "weave-agent": ("PYTHONPATH=<weave_agent/sitecustomize_shim> (what weave-run execs with)", "weave_agent.init()"),
    "otel-contrib": (
        "PYTHONPATH=<opentelemetry auto_instrumentation> (what opentelemetry-instrument execs with)",
        "OpenAIInstrumentor().instrument()",
    ),
    "openllmetry": (
        "PYTHONPATH=<opentelemetry auto_instrumentation> (what opentelemetry-instrument execs with)",
        "OpenAIInstrumentor().instrument()",
    ),
    "openinference": (
        "PYTHONPATH=<opentelemetry auto_instrumentation> (what opentelemetry-instrument execs with)",
        "OpenAIInstrumentor().instrument()",
    ),
    "ddtrace": (
        "PYTHONPATH=<ddtrace/bootstrap> (what ddtrace-run execs with; = import ddtrace.auto)",
        "LLMObs.enable(ml_app=..., integrations_enabled=True)",
    ),
}

# Targets of issue 10, held to the weave-agent variant only (the peers are reported).
TARGETS = {
    "start-up, import openai": 40.0,  # ms added
    "start-up, python -c pass": 3.0,  # ms added
    "per call": 40.0,  # µs added
    "per chunk": 1.0,  # µs added
    "peak RSS after calls": 5.0,  # MB added
}
TARGET_UNITS = {"start-up, import openai": "ms", "start-up, python -c pass": "ms", "per call": "µs", "per chunk": "µs",
                "peak RSS after calls": "MB"}
RAW_SPAN_RATIO = 3.0  # per-call added <= 3x one raw SDK span

# The same for every variant: exporters off where a bootstrap would build one, content capture on.
COMMON_ENV = {
    "WEAVE_AGENT_EXPORTER": "none",
    "OTEL_TRACES_EXPORTER": "none",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
    # content on spans: the agent (its default, said explicitly) and OTel contrib (which needs
    # the latest experimental conventions for SPAN_ONLY)
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
    "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
    "TRACELOOP_TRACE_CONTENT": "true",  # OpenLLMetry (its default)
    "OPENINFERENCE_HIDE_INPUTS": "false",  # OpenInference (its defaults)
    "OPENINFERENCE_HIDE_OUTPUTS": "false",
}
# ddtrace: its openai integration and LLM Observability (where 4.x records prompts and
# completions), routed with the APM trace; no agent, telemetry, remote configuration, profiling,
# security products or other background services.
DD_ENV = {
    "DD_LLMOBS_ENABLED": "true",
    "DD_LLMOBS_ML_APP": "weave-bench",
    "DD_LLMOBS_AGENTLESS_ENABLED": "false",
    "DD_TRACE_AGENT_URL": "http://127.0.0.1:9",
    "DD_DOGSTATSD_URL": "udp://127.0.0.1:9",
    "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
    "DD_TELEMETRY_DEPENDENCY_COLLECTION_ENABLED": "false",
    "DD_REMOTE_CONFIGURATION_ENABLED": "false",
    "DD_PROFILING_ENABLED": "false",
    "DD_APPSEC_ENABLED": "false",
    "DD_IAST_ENABLED": "false",
    "DD_APPSEC_SCA_ENABLED": "false",
    "DD_DYNAMIC_INSTRUMENTATION_ENABLED": "false",
    "DD_EXCEPTION_REPLAY_ENABLED": "false",
    "DD_CODE_ORIGIN_FOR_SPANS_ENABLED": "false",
    "DD_SYMBOL_DATABASE_UPLOAD_ENABLED": "false",
    "DD_CRASHTRACKING_ENABLED": "false",
    "DD_DATA_STREAMS_ENABLED": "false",
    "DD_TRACE_STATS_COMPUTATION_ENABLED": "false",
    "DD_RUNTIME_METRICS_ENABLED": "false",
    "DD_TRACE_STARTUP_LOGS": "false",
    "DD_TRACE_DEBUG": "false",
    "DD_CIVISIBILITY_ENABLED": "false",
    "DD_AI_GUARD_ENABLED": "false",
}

# Appended to the start-up sanity run: is the variant really on after its bootstrap?
STARTUP_CHECK = r"""
import json, sys
c = openai.OpenAI(api_key="sk-bench-not-a-key")
c.chat.completions
sys.path.insert(0, sys.argv[1])
import _peer_worker
print(json.dumps({"patched": _peer_worker.patched_targets(), "weave_agent": "weave_agent" in sys.modules,
                  "otel_auto": "opentelemetry.instrumentation.auto_instrumentation" in sys.modules,
                  "ddtrace": "ddtrace" in sys.modules}))
"""


def requirements(variant: str) -> list[str]:
    files = [os.path.join(_stats.HERE, "requirements-peers.txt")]
    if variant not in ("baseline", "weave-agent"):
        files.append(os.path.join(_stats.HERE, f"requirements-peers-{variant}.txt"))
    return files


def venv_dir(variant: str) -> str:
    return os.path.join(_venvs.VENVS, "peer-" + variant)


def variant_env(variant: str, bindir: str) -> dict[str, str]:
    """The cleaned environment (``_stats.clean_env``, and no peer's own switches from this
    shell), the venv's ``bin`` first on ``PATH``, and the settings above."""
    env = {k: v for k, v in _stats.clean_env().items() if not k.startswith(("DD_", "TRACELOOP_", "OPENINFERENCE_"))}
    env.update(COMMON_ENV, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    if variant == "ddtrace":
        # ddtrace maps OTEL_* onto its own settings: OTEL_TRACES_EXPORTER=none would turn its
        # tracer off (DD_TRACE_ENABLED=false), so none of them reach it.
        env = {k: v for k, v in env.items() if not k.startswith("OTEL_")}
        env.update(DD_ENV)
    return env


def bootstrap_path(variant: str, probe: dict, cwd: str) -> str | None:
    dirs = probe["bootstrap_dirs"]
    if variant == "weave-agent":
        return dirs["weave-agent"]
    if variant in ("otel-contrib", "openllmetry", "openinference"):
        return os.pathsep.join([dirs["otel"], cwd])  # as opentelemetry-instrument sets it
    if variant == "ddtrace":
        return dirs["ddtrace"]
    return None


# --------------------------------------------------------------------------- the run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds (about 3 minutes); noisier; no docs")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated; the baseline is always run")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                    help="per call / per chunk: process CPU time (default; includes the export thread) or wall")
    ap.add_argument("--rebuild-venvs", action="store_true", help="recreate the environments even if they match")
    ap.add_argument("--no-docs", action="store_true", help="do not write docs/ (--quick never does)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when weave-agent misses a target or a variant is broken")
    ap.add_argument("--json", default=os.path.join(_stats.RESULTS_DIR, "peers.json"))
    args = ap.parse_args(argv)
    command = shlex.join(["python", "bench/run.py", *(sys.argv[1:] if argv is None else argv)])
    wanted = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(wanted) - set(VARIANTS))
    if unknown:
        ap.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    variants = ["baseline"] + [v for v in VARIANTS if v in wanted and v != "baseline"]
    if args.quick:
        cfg = {"rounds_pass": 6, "rounds_openai": 5, "rounds_calls": 4, "rounds_rss": 1, "calls": 60, "streams": 1,
               "reps": 3, "rss_calls": 2000, "warmup": 1}
    else:
        cfg = {"rounds_pass": 30, "rounds_openai": 25, "rounds_calls": 12, "rounds_rss": 4, "calls": 150,
               "streams": 2, "reps": 5, "rss_calls": 2000, "warmup": 1}
    cfg["clock"] = args.clock
    started = time.perf_counter()
    machine = _stats.machine()

    venvs = {}
    for v in variants:
        venvs[v] = _venvs.ensure_venv(venv_dir(v), requirements(v), args.rebuild_venvs, with_repo=v == "weave-agent")
        print(f"{v}: {os.path.relpath(venv_dir(v))} {venvs[v]['action']} ({venvs[v]['seconds']:.1f} s)", flush=True)

    with tempfile.TemporaryDirectory(prefix="weave-bench-peers-") as tmp:
        cwd = os.path.join(tmp, "cwd")  # an empty working directory: '' on sys.path finds nothing
        os.makedirs(cwd)
        pythons = {v: venvs[v]["python"] for v in variants}
        envs = {v: variant_env(v, os.path.dirname(pythons[v])) for v in variants}
        probes = {v: _stats.run_json([pythons[v], WORKER, "probe"], envs[v], cwd) for v in variants}
        boot_envs = {}
        for v in variants:
            path = bootstrap_path(v, probes[v], cwd)
            boot_envs[v] = dict(envs[v], PYTHONPATH=path) if path else envs[v]

        # ---- start-up
        startup_checks = {}
        for v in variants:
            proc = _stats.run([pythons[v], "-c", "import openai\n" + STARTUP_CHECK, _stats.HERE], boot_envs[v], cwd)
            state = json.loads(proc.stdout.strip().splitlines()[-1])
            state["stderr"] = proc.stderr.strip()[-800:]
            state["on"] = v == "baseline" or any(state["patched"].values())
            startup_checks[v] = state
            if v == "baseline" and any(state["patched"].values()):
                raise SystemExit("the baseline is patched: the benchmark is broken")
        t = time.perf_counter()
        pass_s = _stats.interleave(
            {v: (lambda v=v: _stats.wall_and_cpu([pythons[v], "-c", "pass"], boot_envs[v], cwd)) for v in variants},
            cfg["rounds_pass"], warmup=cfg["warmup"], progress="python -c pass")
        openai_s = _stats.interleave(
            {v: (lambda v=v: _stats.wall_and_cpu([pythons[v], "-c", "import openai"], boot_envs[v], cwd))
             for v in variants},
            cfg["rounds_openai"], warmup=cfg["warmup"], progress="import openai")
        print(f"start-up: {time.perf_counter() - t:.0f} s", flush=True)

        # ---- per call, per chunk, enable, floor
        t = time.perf_counter()
        call_args = [str(cfg["calls"]), str(cfg["streams"]), str(cfg["reps"]), args.clock]
        calls = _stats.interleave(
            {v: (lambda v=v: _stats.run_json([pythons[v], WORKER, "calls", v, *call_args], envs[v], cwd))
             for v in variants},
            cfg["rounds_calls"], warmup=cfg["warmup"], progress="calls")
        print(f"calls and streams: {time.perf_counter() - t:.0f} s", flush=True)
        t = time.perf_counter()
        rss = _stats.interleave(
            {v: (lambda v=v: _stats.run_json([pythons[v], WORKER, "rss", v, str(cfg["rss_calls"])], envs[v], cwd))
             for v in variants},
            cfg["rounds_rss"], warmup=0, progress="peak RSS")
        print(f"peak RSS: {time.perf_counter() - t:.0f} s", flush=True)

    status = {v: verdict(v, calls[v], rss[v], startup_checks[v]) for v in variants}
    figures, matrix = build_figures(variants, pass_s, openai_s, calls, rss, status)
    elapsed = time.perf_counter() - started
    payload = {
        **_stats.result_head("peers", args.quick, command, elapsed, machine),
        "config": dict(cfg, variants=variants, env=COMMON_ENV, ddtrace_env=DD_ENV),
        "versions": {v: probes[v]["versions"] for v in variants},
        "enabled_by": {v: ENABLED_BY[v] for v in variants},
        "status": status,
        "figures": figures,
        "matrix": matrix,
        "targets": TARGETS,
        "details": {"venvs": venvs, "startup_checks": startup_checks,
                    "calls": calls, "rss": rss},
    }
    table = matrix_text(matrix, variants, status)
    print()
    print(table)
    print()
    _stats.print_table(figures)
    path = _stats.write_json(args.json, payload)
    print(f"\nwrote {os.path.relpath(path)} (took {elapsed:.0f} s)")
    if args.quick or args.no_docs:
        print("docs/ not written (" + ("--quick" if args.quick else "--no-docs") + ")")
    else:
        _stats.write_docs_section(DOCS, BEGIN, END, docs_section(payload, table))
        print(f"wrote {os.path.relpath(DOCS)} (section {BEGIN})")
        chart(payload, args.rebuild_venvs)
    missed = [f["name"] for f in figures if f["result"] == "MISS"]
    broken = [v for v, s in status.items() if s["broken"]]
    if missed:
        print("MISSED: " + "; ".join(missed))
    if broken:
        print("BROKEN: " + "; ".join(f"{v} ({status[v]['why']})" for v in broken))
    return 1 if (args.strict and (missed or broken)) else 0


def verdict(variant: str, calls: list[dict], rss: list[dict], startup: dict) -> dict:
    """Whether the variant really traced: spans from its calls (every round), the prompt and the
    completion in them, the bootstrap patched openai."""
    if variant == "baseline":
        return {"broken": False, "why": "", "spans_per_call": 0.0}
    problems = []
    spans = [c["spans"] for c in calls] + [r["spans"] for r in rss]
    if min(spans) == 0:
        problems.append("no spans")
    if not all(c["check"]["content"] for c in calls):
        problems.append("no prompt/completion content on its spans")
    if not startup["on"]:
        problems.append("its bootstrap did not patch openai")
    made = calls[0]["calls_and_streams"]
    return {
        "broken": bool(problems),
        "why": "; ".join(problems),
        "spans_per_call": calls[0]["spans"] / made if made else 0.0,
        "call_span": calls[0]["check"]["call_span"],
        "span_names": calls[0]["check"].get("span_names"),
        "patched": calls[0]["patched"],
    }


FIGURES = (
    # (key, title (the key of TARGETS), unit, scale)
    ("openai", "start-up, import openai", "ms", 1e3),
    ("pass", "start-up, python -c pass", "ms", 1e3),
    ("enable", "time to enable", "ms", 1e3),
    ("call", "per call", "µs", 1e6),
    ("chunk", "per chunk", "µs", 1e6),
    ("rss", "peak RSS after calls", "MB", 1 / 1024),
)


def build_figures(variants: list[str], pass_s: dict, openai_s: dict, calls: dict, rss: dict,
                  status: dict) -> tuple[list[dict], dict]:
    samples = {
        "openai": {v: [w for w, _ in openai_s[v]] for v in variants},
        "pass": {v: [w for w, _ in pass_s[v]] for v in variants},
        "enable": {v: [c["enable_s"] for c in calls[v]] for v in variants},
        "call": {v: [c["per_call_s"] for c in calls[v]] for v in variants},
        "chunk": {v: [c["per_chunk_s"] for c in calls[v]] for v in variants},
        "rss": {v: [r["maxrss_kb"] for r in rss[v]] for v in variants},
    }
    figures: list[dict] = []
    matrix: dict = {v: {} for v in variants}
    for key, title, unit, scale in FIGURES:
        base = samples[key]["baseline"]
        for v in variants:
            med = statistics.median(samples[key][v]) * scale
            matrix[v][key] = med
            if v == "baseline":
                continue
            target = TARGETS.get(title) if v == "weave-agent" else None
            f = _stats.compare(f"{v}: {title}", None if key == "enable" else base, samples[key][v], unit,
                               target, "value" if key == "enable" else "diff", scale=scale,
                               baseline_label="" if key == "enable" else LABELS["baseline"], variant_label=LABELS[v])
            if status[v]["broken"]:
                f["result"] = "BROKEN"
            figures.append(f)
            matrix[v][key + "_added"] = f["diff"] if f["diff"] is not None else med
            matrix[v][key + "_ratio"] = f["ratio"]
    # The floor, measured in every worker: the bare call, the no-op wrapper, the raw span.
    for v in variants:
        floors = [c["floor_s"] for c in calls[v]]
        matrix[v]["floor_us"] = {k: statistics.median(f[k] for f in floors) * 1e6 for k in floors[0]}
        raw = matrix[v]["floor_us"].get("raw SDK span")
        if raw and v != "baseline":
            bare = matrix[v]["floor_us"]["bare call"]
            matrix[v]["call_per_raw_span"] = matrix[v]["call_added"] / (raw - bare)
    if "weave-agent" in variants and "call_per_raw_span" in matrix["weave-agent"]:
        fl = [c["floor_s"] for c in calls["weave-agent"]]
        figures.append(_stats.compare(
            "weave-agent: raw SDK span (floor)", [f["bare call"] for f in fl], [f["raw SDK span"] for f in fl], "µs",
            scale=1e6, baseline_label="a bare Python call",
            variant_label="one SDK span with the agent's call-span attributes, made current around the call"))
        figures.append(_stats.compare(
            "weave-agent: no-op wrapt wrapper (floor)", [f["bare call"] for f in fl],
            [f["no-op wrapt wrapper"] for f in fl], "µs", scale=1e6, baseline_label="a bare Python call",
            variant_label="the same call through wrapt.FunctionWrapper with a pass-through wrapper"))
        ratio = matrix["weave-agent"]["call_per_raw_span"]
        figures.append({
            "name": "weave-agent: per call added / raw span", "unit": "x", "baseline_label": "", "variant_label":
            "(per call added) / (raw span - bare call), medians", "variant": {"median": ratio}, "baseline": None,
            "diff": None, "ratio": None, "diff_ci95": None, "target": RAW_SPAN_RATIO, "target_kind": "value",
            "result": "PASS" if ratio <= RAW_SPAN_RATIO else "MISS", "note": ""})
    return figures, matrix


def _f(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:+.{digits}f}"


MATRIX_COLUMNS = (
    ("import openai", "openai_added", "ms", 1),
    ("python -c pass", "pass_added", "ms", 1),
    ("enable", "enable", "ms", 1),
    ("per call", "call_added", "µs", 1),
    ("per chunk", "chunk_added", "µs", 2),
    ("RSS", "rss_added", "MB", 1),
    ("call / raw span", "call_per_raw_span", "x", 1),
)


def matrix_rows(matrix: dict, variants: list[str], status: dict) -> tuple[list[str], list[list[str]]]:
    header = ["variant"] + [f"{name} [{unit}]" for name, _, unit, _ in MATRIX_COLUMNS] + ["spans/call", "status"]
    rows = []
    base = matrix["baseline"]
    rows.append(["baseline (absolute)"] + [
        f"{base.get(k.replace('_added', ''), 0):.{d}f}" if k.endswith("_added") else "-"
        for _, k, _, d in MATRIX_COLUMNS] + ["0", "-"])
    for v in variants[1:]:
        m = matrix[v]
        cells = []
        for _, k, _, d in MATRIX_COLUMNS:
            x = m.get(k)
            cells.append("-" if x is None else (f"{x:.{d}f}" if k in ("enable", "call_per_raw_span") else _f(x, d)))
        s = status[v]
        rows.append([v] + cells + [f"{s['spans_per_call']:.2f}", "BROKEN: " + s["why"] if s["broken"] else "ok"])
    return header, rows


def matrix_text(matrix: dict, variants: list[str], status: dict) -> str:
    header, rows = matrix_rows(matrix, variants, status)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    targets = ", ".join(f"{k} {v:g} {TARGET_UNITS[k]}" for k, v in TARGETS.items())
    return ("Added to the baseline (medians of interleaved rounds; 'enable' is absolute):\n" + "\n".join(lines)
            + f"\nweave-agent targets (added): {targets} ; per call <= {RAW_SPAN_RATIO:g}x one raw SDK span")


def docs_section(payload: dict, table: str) -> str:
    m, cfg = payload["machine"], payload["config"]
    variants = cfg["variants"]
    header, rows = matrix_rows(payload["matrix"], variants, payload["status"])
    md = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 2) + "---|"]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    vers = []
    for v in variants:
        pv = payload["versions"][v]
        own = {k: x for k, x in pv.items() if x and k not in ("openai", "httpx2", "opentelemetry-api", "opentelemetry-sdk", "wrapt")}
        vers.append(f"  * {v}: " + ", ".join(f"{k} {x}" for k, x in own.items()))
    enabled = [f"  * {v}: start-up `{a}`; in-process `{b}`" for v, (a, b) in payload["enabled_by"].items()
               if v != "baseline"]
    base_v = payload["versions"]["baseline"]
    load = m.get("load_avg")
    return "\n".join([
        "## Next to the peers (`bench/run.py`)",
        "",
        f"* date: {m['time']}; git commit {(m.get('git_commit') or '?')[:12]} (plus uncommitted changes, if any)",
        f"* machine: {m['platform']}, {m['cpu_count']} CPUs; load average at the start "
        + (", ".join(f"{x:.2f}" for x in load) if load else "-") + " (shared with other work: figures are noisy)",
        f"* python {m['python']}; every variant: openai {base_v.get('openai')}, opentelemetry-sdk "
        f"{base_v.get('opentelemetry-sdk')}, httpx2 {base_v.get('httpx2')}, wrapt {base_v.get('wrapt')}; own packages:",
        *vers,
        "* enabled by:",
        *enabled,
        f"* command: `{payload['command']}` (took {payload['elapsed_s']:.0f} s); rounds: {cfg['rounds_pass']} "
        f"(`pass`), {cfg['rounds_openai']} (`import openai`), {cfg['rounds_calls']} (calls: {cfg['reps']} samples of "
        f"{cfg['calls']} calls and {cfg['streams']} streams per worker), {cfg['rounds_rss']} (RSS, {cfg['rss_calls']} "
        f"calls); per call and per chunk in process {cfg['clock']} time",
        "* content capture on everywhere; OpenTelemetry variants: a global `TracerProvider`, `BatchSpanProcessor`, "
        "a no-op exporter that counts; ddtrace: its tracer with a trace writer that counts and discards",
        "",
        *md,
        "",
        "Added to the baseline, medians over rounds interleaved across the variants (one fresh worker process per "
        "variant per round, the order rotated). 'call / raw span': per call added divided by one raw SDK span with "
        "the variant's own call-span attributes (minus a bare call), measured in the same workers. 'spans/call': "
        "spans exported per call or stream made. A variant is BROKEN when its calls made no span, its spans hold no "
        "prompt and completion, or its bootstrap did not patch openai.",
        "",
        f"Targets for weave-agent (added): {', '.join(f'{k} <= {v:g} {TARGET_UNITS[k]}' for k, v in TARGETS.items())}; "
        f"per call <= "
        f"{RAW_SPAN_RATIO:g}x one raw SDK span. Full table with 95% intervals: `bench/results/peers.json`.",
        "",
        "![per-call and per-chunk overhead by variant](benchmarks.png)",
    ])


def chart(payload: dict, rebuild: bool) -> None:
    """docs/benchmarks.png, drawn with matplotlib in its own environment (bench/.venvs/plot)."""
    venv = _venvs.ensure_venv(os.path.join(_venvs.VENVS, "plot"), [os.path.join(_stats.HERE, "requirements-plot.txt")],
                              rebuild, with_repo=False)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"matrix": payload["matrix"], "status": payload["status"], "targets": TARGETS,
                   "variants": payload["config"]["variants"], "title": payload["machine"]["time"]}, f)
    try:
        _stats.run([venv["python"], PLOTTER, f.name, CHART], _stats.clean_env({"MPLBACKEND": "Agg"}))
    finally:
        os.unlink(f.name)
    print(f"wrote {os.path.relpath(CHART)}")


if __name__ == "__main__":
    sys.exit(main())

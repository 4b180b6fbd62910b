"""What the agent adds to a process's start-up, next to ``opentelemetry-instrument``.

    python bench/startup.py [--quick] [--strict] [--rebuild-venv] [--no-docs] [--wait-quiet MIN]

Every child runs with the python of the benchmark's own virtual environment
(``bench/.venvs/startup``: the repository installed non-editable, with ``.pyc`` files, plus
the packages of ``bench/requirements-startup.txt``: openai, opentelemetry-distro,
opentelemetry-instrumentation and the contrib openai instrumentation), in an empty
temporary working directory, with ``WEAVE_AGENT_EXPORTER=none`` and
``OTEL_{TRACES,METRICS,LOGS}_EXPORTER=none``. Wall clock, medians of interleaved rounds
(see bench/README.md), each against a baseline measured in the same run:

1. ``python -c pass``: baseline vs ``PYTHONPATH=<shim>`` vs ``weave-run`` vs
   ``opentelemetry-instrument`` (plus, for attribution, a launcher that only execs and
   OpenTelemetry's ``sitecustomize`` alone). Target: the shim adds < 3 ms. ``weave-run``
   is reported, not held to it: it starts one more interpreter before it execs.
2. ``python -c "import openai"``: the same variants. Target: the shim and ``weave-run``
   add < 40 ms.

Each child's user+sys CPU time is taken with its wall clock and reported in a second
table (it moves far less when other work shares the machine; targets are held to wall
clock). Then the attribution: ``weave-run``'s own work phase by phase, the ``import
openai`` itself timed inside the child with and without the shim, and ``-X importtime``
of every variant. Prints the tables, writes bench/results/startup.json and the start-up
section of docs/benchmarks.md (full runs only).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _stats
import _venvs
from finder import parse_importtime, subtree

REPO = os.path.dirname(_stats.HERE)
VENV = os.path.join(_stats.HERE, ".venvs", "startup")
REQUIREMENTS = os.path.join(_stats.HERE, "requirements-startup.txt")
DOCS = os.path.join(REPO, "docs", "benchmarks.md")
DOCS_BEGIN, DOCS_END = "<!-- startup:begin -->", "<!-- startup:end -->"
# The -X importtime blocks docs/benchmarks.md keeps (stdout and the JSON have them all).
DOCS_PROFILES = ("pass/shim", "pass/weave-run", "pass/opentelemetry-instrument", "openai/opentelemetry-instrument")

TARGET_PASS_MS = 3.0
TARGET_OPENAI_MS = 40.0

# Distributions whose versions the report names.
VERSIONS_OF = (
    "weave-agent",
    "openai",
    "opentelemetry-api",
    "opentelemetry-sdk",
    "opentelemetry-instrumentation",
    "opentelemetry-distro",
    "opentelemetry-instrumentation-openai-v2",
    "opentelemetry-util-genai",
    "wrapt",
    "pip",
    "setuptools",
)

# Environment variables every variant gets (the same for all, so only PYTHONPATH differs).
EXPORTERS_OFF = {
    "WEAVE_AGENT_EXPORTER": "none",
    "OTEL_TRACES_EXPORTER": "none",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
}

# The floor of any launcher: start, then exec the command with the shim on PYTHONPATH.
EXEC_FLOOR = (
    "import os, sys; "
    "os.execve(sys.executable, [sys.executable, '-c', sys.argv[2]], dict(os.environ, PYTHONPATH=sys.argv[1]))"
)

# Appended to a workload in the sanity run: what the process looks like at its end.
STATE = r"""
import json as _j, sys as _s
_lc = _s.modules.get("weave_agent.lifecycle")
_st = {"executable": _s.executable, "modules": len(_s.modules),
       "weave_agent_started": bool(_lc is not None and _lc.started()),
       "otel_auto_instrumentation": "opentelemetry.instrumentation.auto_instrumentation" in _s.modules,
       "openai_imported": "openai" in _s.modules, "openai_patched": None}
if "openai" in _s.modules:
    try:
        from openai.resources.chat.completions import Completions as _C
        _st["openai_patched"] = type(vars(_C)["create"]).__name__ != "function"
    except Exception as _e:
        _st["openai_patched"] = repr(_e)
print(_j.dumps(_st))
"""

PROBE = r"""
import importlib.util, json, os, platform, sys
from importlib.metadata import PackageNotFoundError, version
versions = {}
for name in sys.argv[1:]:
    try:
        versions[name] = version(name)
    except PackageNotFoundError:
        versions[name] = None
spec = importlib.util.find_spec("weave_agent.sitecustomize_shim")
auto = importlib.util.find_spec("opentelemetry.instrumentation.auto_instrumentation")
print(json.dumps({"python": platform.python_version(), "executable": sys.executable, "versions": versions,
                  "shim": os.path.dirname(spec.origin), "otel_auto": os.path.dirname(auto.origin)}))
"""

# weave-run's work before exec, phase by phase, in a fresh interpreter (in the order the
# launcher does it). Private names of weave_agent.tools.cli: a missing one is reported, not fatal.
# Nothing but builtins and os before the phases (json would bring re and enum, which the
# launcher pays for under argparse): json is imported at the end.
PHASES = r"""
import os, sys, time
pc = time.perf_counter
out, errors, g = {}, {}, {}
def step(name, fn):
    t = pc()
    try:
        fn()
    except Exception as exc:
        errors[name] = "%s: %s" % (type(exc).__name__, exc)
        return
    out[name] = pc() - t
def import_cli():
    import weave_agent.tools.cli as cli
    g["cli"] = cli
step("import weave_agent.tools.cli (argparse > re, enum, gettext; shutil; weave_agent)", import_cli)
cli = g.get("cli")
step("build the argparse parser (gettext > locale)", lambda: g.__setitem__("parser", cli._parser()))
step("parse the arguments", lambda: g["parser"].parse_args(["python", "-c", "pass"]))
step("shim_path()", lambda: cli.shim_path())
step("entry points (_encode_entry_points, as weave-run calls it)", lambda: cli._encode_entry_points(cli._entry_point_groups()))
scan_imported_metadata = "importlib.metadata" in sys.modules
if not scan_imported_metadata:
    step("info: import importlib.metadata (paid only when a distribution declares the entry-point group)",
         lambda: __import__("importlib.metadata"))
import json
print(json.dumps({"seconds": out, "errors": errors, "scan_imported_metadata": scan_imported_metadata}))
"""

# CPU time of the openai import itself, inside the child (no interpreter start or exit).
IMPORT_CPU = "import time; t = time.process_time(); import openai; print(time.process_time() - t)"

IMPORTTIME_HEADER = "import time: self [us] | cumulative | imported package"


# --------------------------------------------------------------------------- the venv


def ensure_venv(rebuild: bool) -> dict:
    """Create ``bench/.venvs/startup`` unless its stamp matches the requirements file and
    this interpreter; reinstall only the repository when its source changed."""
    return _venvs.ensure_venv(VENV, [REQUIREMENTS], rebuild, with_repo=True)


# --------------------------------------------------------------------------- variants


def build_variants(python: str, probe: dict, cwd: str) -> tuple[dict, dict]:
    """``{group: {name: (argv, env)}}`` and the labels."""
    bindir = os.path.dirname(python)
    env = _stats.clean_env(dict(EXPORTERS_OFF, PATH=bindir + os.pathsep + os.environ.get("PATH", "")))
    shim_env = dict(env, PYTHONPATH=probe["shim"])
    # What opentelemetry-instrument puts on PYTHONPATH: its folder, then the working directory.
    otel_env = dict(env, PYTHONPATH=os.pathsep.join([probe["otel_auto"], cwd]))
    weave_run = os.path.join(bindir, "weave-run")
    otel_instrument = os.path.join(bindir, "opentelemetry-instrument")
    groups: dict = {}
    for group, code in (("pass", "pass"), ("openai", "import openai")):
        v = {
            "baseline": ([python, "-c", code], env),
            "shim": ([python, "-c", code], shim_env),
            "weave-run": ([weave_run, "python", "-c", code], env),
            "opentelemetry-instrument": ([otel_instrument, "python", "-c", code], env),
        }
        if group == "pass":  # attribution: the floor of a launcher, OTel's sitecustomize alone
            v["exec floor"] = ([python, "-c", EXEC_FLOOR, probe["shim"], code], env)
            v["otel sitecustomize"] = ([python, "-c", code], otel_env)
        groups[group] = v
    labels = {
        "baseline": "no PYTHONPATH",
        "shim": "PYTHONPATH=<weave_agent/sitecustomize_shim> (bootstrap())",
        "weave-run": "weave-run python -c ... (launcher process, then exec with the shim)",
        "opentelemetry-instrument": "opentelemetry-instrument python -c ... (launcher, then exec with its sitecustomize)",
        "otel sitecustomize": "PYTHONPATH=<opentelemetry auto_instrumentation>:<cwd> (its sitecustomize alone)",
        "exec floor": "python -c 'os.execve(python, ..., PYTHONPATH=<shim>)': a launcher that only execs",
    }
    return groups, labels


def sanity(groups: dict, cwd: str) -> dict:
    """Run every variant once with STATE appended: right interpreter, agent started (or
    not), nothing on stderr. A variant that silently failed would look cheap."""
    out: dict = {}
    for group, variants in groups.items():
        for name, (argv, env) in variants.items():
            argv = argv[:-1] + [argv[-1] + "\n" + STATE]  # the last argument is the code run
            proc = _stats.run(argv, env, cwd)
            state = json.loads(proc.stdout.strip().splitlines()[-1])
            state["stderr"] = proc.stderr.strip()
            out[f"{group}/{name}"] = state
            weave = name in ("shim", "weave-run", "exec floor")
            otel = name in ("opentelemetry-instrument", "otel sitecustomize")
            problems = []
            if state["weave_agent_started"] != weave:
                problems.append(f"weave_agent started: {state['weave_agent_started']}, expected {weave}")
            if state["otel_auto_instrumentation"] != otel:
                problems.append(f"OTel auto-instrumentation loaded: {state['otel_auto_instrumentation']}")
            if otel and group == "openai" and state["openai_patched"] is not True:
                problems.append(f"openai not instrumented by OTel: {state['openai_patched']!r}")
            if state["stderr"]:
                problems.append("stderr: " + state["stderr"][-500:])
            if problems:
                raise RuntimeError(f"variant {group}/{name} is not what it claims: " + "; ".join(problems))
    exes = {os.path.realpath(s["executable"]) for s in out.values()}
    if len(exes) != 1:
        raise RuntimeError(f"variants ran different interpreters: {sorted(exes)}")
    return out


def time_group(
    variants: dict, cwd: str, rounds: int, warmup: int, label: str, extra: dict | None = None
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, list]]:
    """Wall clock and CPU time of every variant, interleaved: ``(wall, cpu, extra)``.
    ``extra`` callables (other samples that should see the same machine, e.g. the
    launcher's phases) join the rotation; their samples come back as they are."""
    calls = {name: (lambda a=argv, e=env: _stats.wall_and_cpu(a, e, cwd)) for name, (argv, env) in variants.items()}
    samples = _stats.interleave(dict(calls, **(extra or {})), rounds, warmup=warmup, progress=label)
    wall = {name: [w for w, _ in samples[name]] for name in variants}
    cpu = {name: [c for _, c in samples[name]] for name in variants}
    return wall, cpu, {name: samples[name] for name in extra or {}}


# --------------------------------------------------------------------------- attribution


def launcher_phases(outputs: list[dict]) -> dict:
    """Medians (ms) of the PHASES child's outputs, one per round."""
    samples: dict[str, list[float]] = {}
    errors: dict = {}
    for out in outputs:
        for k, v in out["seconds"].items():
            samples.setdefault(k, []).append(v * 1e3)
        errors.update(out["errors"])
    return {
        "runs": len(outputs),
        "median_ms": {k: statistics.median(v) for k, v in samples.items()},
        "errors": errors,
        "scan_imported_metadata": any(o.get("scan_imported_metadata") for o in outputs),
    }


def _package(module: str) -> str:
    return module.split(".", 1)[0]


def _largest(store: dict[str, dict[int, int]], runs: int, limit: int = 8) -> list[list]:
    """``[[key, median ms over the runs], ...]``, largest first."""
    rows = [[k, statistics.median([by_run.get(i, 0) for i in range(runs)]) / 1e3] for k, by_run in store.items()]
    return sorted(rows, key=lambda r: -r[1])[:limit]


def importtime_profiles(variants: dict, cwd: str, runs: int) -> dict[str, list[dict]]:
    """``-X importtime`` of every variant (as ``PYTHONPROFILEIMPORTTIME=1``, so it reaches
    an exec'd child too), in interleaved rounds like the wall-clock figures."""

    def sample(argv: list[str], env: dict) -> list[list]:
        err = _stats.run(argv, dict(env, PYTHONPROFILEIMPORTTIME="1"), cwd).stderr
        return [parse_importtime(chunk) for chunk in err.split(IMPORTTIME_HEADER)[1:]]

    raw = _stats.interleave(
        {name: (lambda a=argv, e=env: sample(a, e)) for name, (argv, env) in variants.items()},
        runs,
        warmup=0,
        progress="-X importtime",
    )
    return {name: summarize_importtime(per_run) for name, per_run in raw.items()}


def summarize_importtime(per_run: list[list[list]]) -> list[dict]:
    """One entry per process, medians over the runs: total import time (sum of the
    top-level cumulative times), the top-level imports, self time by top-level package,
    and ``sitecustomize``'s cumulative time and direct children."""
    nproc = statistics.median_low([len(r) for r in per_run])
    per_run = [r for r in per_run if len(r) == nproc]
    procs = []
    for p in range(nproc):
        # {key: {run index: microseconds}}; a key absent from a run counts 0 there.
        total: list[int] = []
        sc_total: list[int] = []
        top: dict[str, dict[int, int]] = {}
        pkg: dict[str, dict[int, int]] = {}
        sc_children: dict[str, dict[int, int]] = {}

        def add(store: dict, key: str, i: int, us: int) -> None:
            by_run = store.setdefault(key, {})
            by_run[i] = by_run.get(i, 0) + us

        for i, run_rows in enumerate(per_run):
            rows = run_rows[p]
            total.append(sum(r[3] for r in rows if r[0] == 0))
            for depth, module, self_us, cum_us in rows:
                add(pkg, _package(module), i, self_us)
                if depth == 0:
                    add(top, module, i, cum_us)
            sc = subtree(rows, "sitecustomize")
            if sc:
                sc_depth = sc[-1][0]
                sc_total.append(sc[-1][3])
                for depth, module, _, cum_us in sc:
                    if depth == sc_depth + 1:
                        add(sc_children, module, i, cum_us)
        n = len(total)
        procs.append(
            {
                "runs": n,
                "imports_ms": statistics.median(total) / 1e3 if total else None,
                "top_level_ms": _largest(top, n),
                "self_by_package_ms": _largest(pkg, n),
                "sitecustomize_ms": statistics.median(sc_total) / 1e3 if sc_total else None,
                "sitecustomize_children_ms": _largest(sc_children, n, 6),
            }
        )
    return procs


def _rows_text(rows: list[list], limit: int = 6) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in rows[:limit] if v >= 0.05) or "-"


def profile_text(name: str, procs: list[dict]) -> list[str]:
    lines = []
    for i, p in enumerate(procs):
        role = "" if len(procs) == 1 else (" launcher" if i == 0 else " exec'd child")
        has_sc = (p["sitecustomize_ms"] or 0) >= 0.05  # (a failed lookup is listed with ~0)
        head = f"  {name}{role}: imports {p['imports_ms']:.1f} ms"
        if has_sc:
            head += f", of which sitecustomize {p['sitecustomize_ms']:.1f} ms"
        lines.append(head)
        lines.append(f"      top-level imports (cumulative ms): {_rows_text(p['top_level_ms'])}")
        lines.append(f"      self time by package (ms): {_rows_text(p['self_by_package_ms'])}")
        if has_sc:
            lines.append(f"      sitecustomize imported (cumulative ms): {_rows_text(p['sitecustomize_children_ms'])}")
    return lines


# --------------------------------------------------------------------------- report


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def git_dirty() -> bool | None:
    """Whether tracked files differ from the commit (the installed snapshot holds them)."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.strip())


def markdown_table(figures: list[dict]) -> str:
    return _stats.markdown_table(figures)


def write_docs(section: str) -> str:
    return _stats.write_docs_section(DOCS, DOCS_BEGIN, DOCS_END, section)


def docs_section(
    payload: dict, figures: list[dict], figures_cpu: list[dict], attribution: list[str], command: str
) -> str:
    m, probe = payload["machine"], payload["details"]["probe"]
    v = probe["versions"]
    cfg = payload["config"]
    notes = "\n".join(f"* **{f['name']}**: {f['note']}" for f in figures if f["note"])
    return f"""
## Start-up cost (`bench/startup.py`)

* date: {m["time"]}; git commit {m.get("git_commit", "?")[:12]}{" with uncommitted changes" if m.get("git_dirty") else ""}
* machine: {cpu_model()}, {m["cpu_count"]} CPUs, {m["platform"]}; load average (1, 5, 15 min) {", ".join(f"{x:.2f}" for x in m.get("load_avg", ()))} at the start, {", ".join(f"{x:.2f}" for x in payload.get("load_avg_end") or ())} at the end ({m["cpu_count"]} CPUs shared with other work: wall clock moves with it, CPU time much less)
* python {probe["python"]} (the benchmark's own virtual environment, `bench/.venvs/startup`); openai {v.get("openai")},
  opentelemetry-sdk {v.get("opentelemetry-sdk")}, opentelemetry-instrumentation {v.get("opentelemetry-instrumentation")},
  opentelemetry-distro {v.get("opentelemetry-distro")}, opentelemetry-instrumentation-openai-v2 {v.get("opentelemetry-instrumentation-openai-v2")},
  weave-agent {v.get("weave-agent")} (installed non-editable from the working tree)
* command: `{command}` ({cfg["rounds_pass"]} interleaved rounds for `python -c pass`, {cfg["rounds_openai"]} for
  `import openai`; wall clock and CPU time per child, medians; took {payload["elapsed_s"] - payload["waited_for_quiet_s"]:.0f} s)

Wall clock:

{markdown_table(figures)}

CPU time (user+sys) of the same runs: what the processes themselves do, far less sensitive than
wall clock to other work on the machine (the targets apply to wall clock; shown here for reference):

{markdown_table(figures_cpu)}

Targets: the shim adds < {TARGET_PASS_MS:g} ms to `python -c pass`; `weave-run` is reported there but not held
to it, because it starts one more interpreter (the launcher) before it execs the command. For
`import openai` the shim and `weave-run` add < {TARGET_OPENAI_MS:g} ms. weave-agent's openai instrumentation
arms on the resource modules, which openai loads on the first `client.chat` (not on `import
openai`): these figures hold the import hook's cost; patching happens on first use. `opentelemetry-instrument` instruments openai with the contrib
`opentelemetry-instrumentation-openai-v2`.

{notes}

Attribution (medians; `-X importtime` inflates imports a little):

```
{chr(10).join(attribution)}
```
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds (about 1 minute instead of about 5)")
    ap.add_argument(
        "--json", default=os.path.join(_stats.RESULTS_DIR, "startup.json"), help="where to write the results"
    )
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument("--rebuild-venv", action="store_true", help="recreate bench/.venvs/startup even if it matches")
    ap.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md (--quick never does)")
    ap.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="MIN",
        help="first wait up to MIN minutes for the 1-minute load average to fall below half the CPU count",
    )
    args = ap.parse_args(argv)
    command = shlex.join(["python", "bench/startup.py", *(sys.argv[1:] if argv is None else argv)])

    if args.quick:
        rounds_pass, rounds_openai, warmup, importtime_runs = 20, 15, 2, 3
    else:
        rounds_pass, rounds_openai, warmup, importtime_runs = 80, 80, 3, 20

    started = time.perf_counter()
    venv = ensure_venv(args.rebuild_venv)
    python = venv["python"]
    print(f"virtual environment {os.path.relpath(VENV)}: {venv['action']} ({venv['seconds']:.1f} s)", flush=True)
    waited = time.perf_counter()
    try:
        quiet = 0.5 * (os.cpu_count() or 1)
        deadline = time.monotonic() + 60 * args.wait_quiet
        while os.getloadavg()[0] > quiet and time.monotonic() < deadline:
            time.sleep(10)
        load = os.getloadavg()[0]
        if load > quiet:
            print(f"note: load average {load:.2f} at the start: other work on this machine makes the figures noisier")
    except (AttributeError, OSError):
        pass
    waited = time.perf_counter() - waited
    machine = dict(_stats.machine(), cpu_model=cpu_model(), git_dirty=git_dirty())  # load average at the start

    with tempfile.TemporaryDirectory(prefix="weave-bench-") as tmp:
        cwd = os.path.join(tmp, "cwd")  # an empty working directory: '' on sys.path finds nothing
        os.makedirs(cwd)
        probe = _stats.run_json([python, "-c", PROBE, *VERSIONS_OF], _stats.clean_env(), cwd)
        assert isinstance(probe, dict)
        groups, labels = build_variants(python, probe, cwd)
        checks = sanity(groups, cwd)

        t = time.perf_counter()
        env = groups["pass"]["baseline"][1]
        wall: dict[str, dict[str, list[float]]] = {}
        cpu: dict[str, dict[str, list[float]]] = {}
        wall["pass"], cpu["pass"], extra = time_group(
            groups["pass"],
            cwd,
            rounds_pass,
            warmup,
            "python -c pass",
            extra={"phases": lambda: _stats.run_json([python, "-c", PHASES], env, cwd)},
        )
        phases = launcher_phases(extra["phases"])
        print(
            f"python -c pass: {rounds_pass} rounds x {len(groups['pass'])} in {time.perf_counter() - t:.0f} s",
            flush=True,
        )
        t = time.perf_counter()
        shim_env = groups["openai"]["shim"][1]
        wall["openai"], cpu["openai"], extra = time_group(
            groups["openai"],
            cwd,
            rounds_openai,
            warmup,
            "import openai",
            extra={
                "import cpu: baseline": lambda: _stats.run_json([python, "-c", IMPORT_CPU], env, cwd),
                "import cpu: shim": lambda: _stats.run_json([python, "-c", IMPORT_CPU], shim_env, cwd),
            },
        )
        import_cpu = extra
        print(
            f"import openai: {rounds_openai} rounds x {len(groups['openai'])} in {time.perf_counter() - t:.0f} s",
            flush=True,
        )

        t = time.perf_counter()
        profiles = {
            f"{group}/{name}": procs
            for group in ("pass", "openai")
            for name, procs in importtime_profiles(
                {k: v for k, v in groups[group].items() if k != "exec floor"}, cwd, importtime_runs
            ).items()
        }
        print(f"attribution: {time.perf_counter() - t:.0f} s", flush=True)

    def ms(xs: list[float]) -> float:
        return statistics.median(xs) * 1e3

    s_pass = wall["pass"]
    base_pass = ms(s_pass["baseline"])
    shim_pass = ms(s_pass["shim"]) - base_pass
    wr_pass = ms(s_pass["weave-run"]) - base_pass
    floor_pass = ms(s_pass["exec floor"]) - base_pass
    phase_sum = sum(v for k, v in phases["median_ms"].items() if not k.startswith("info"))
    no_openai_note = (
        "the openai instrumentation arms on the resource modules, "
        "which openai loads on first client.chat: import openai alone pays only the import hook's lookups"
    )

    def fig(samples: dict, name: str, title: str, target: float | None, note: str) -> dict:
        return _stats.compare(
            title,
            samples["baseline"],
            samples[name],
            "ms",
            target,
            "diff",
            scale=1e3,
            baseline_label=labels["baseline"],
            variant_label=labels[name],
            note=note,
        )

    n_p, n_o = f"{rounds_pass} runs each, interleaved", f"{rounds_openai} runs each, interleaved"
    specs = [
        ("pass", "shim", "python -c pass + shim", TARGET_PASS_MS, n_p),
        (
            "pass",
            "weave-run",
            "weave-run python -c pass",
            None,
            f"{n_p}; not held to the {TARGET_PASS_MS:g} ms target: one more interpreter start (the launcher, "
            f"about the baseline's {base_pass:.1f} ms) before exec; the launcher's own work before exec is "
            f"{phase_sum:.1f} ms (phases below)",
        ),
        (
            "pass",
            "exec floor",
            "exec-only launcher + shim (floor)",
            None,
            f"{n_p}; what any launcher costs at the least: one interpreter start and an exec, then the shim",
        ),
        (
            "pass",
            "opentelemetry-instrument",
            "opentelemetry-instrument python -c pass",
            None,
            f"{n_p}; its openai instrumentor imports openai at start-up"
            + (" (openai in sys.modules)" if checks["pass/opentelemetry-instrument"]["openai_imported"] else ""),
        ),
        (
            "pass",
            "otel sitecustomize",
            "python -c pass + OTel sitecustomize",
            None,
            f"{n_p}; OpenTelemetry's sitecustomize without its launcher (compare with the shim)",
        ),
        ("openai", "shim", "import openai + shim", TARGET_OPENAI_MS, f"{n_o}; {no_openai_note}"),
        (
            "openai",
            "weave-run",
            "weave-run python -c 'import openai'",
            TARGET_OPENAI_MS,
            f"{n_o}; includes the launcher (see weave-run python -c pass); {no_openai_note}",
        ),
        (
            "openai",
            "opentelemetry-instrument",
            "opentelemetry-instrument python -c 'import openai'",
            None,
            f"{n_o}; openai instrumented by opentelemetry-instrumentation-openai-v2",
        ),
    ]
    figures = [fig(wall[g], name, title, target, note) for g, name, title, target, note in specs]
    figures_cpu = [
        fig(cpu[g], name, title + " [cpu]", target, "user+sys CPU time of the same runs")
        for g, name, title, target, _ in specs
    ]

    def top_child(procs: list[dict]) -> str:
        rows = procs[-1]["sitecustomize_children_ms"]
        return f"{rows[0][0]} {rows[0][1]:.1f} ms" if rows else "-"

    shim_sc = profiles["pass/shim"][-1]
    otel_l, otel_c = profiles["pass/opentelemetry-instrument"]
    fig_import_cpu = _stats.compare(
        "the openai import alone, in-process [cpu]",
        import_cpu["import cpu: baseline"],
        import_cpu["import cpu: shim"],
        "ms",
        scale=1e3,
        baseline_label="no PYTHONPATH",
        variant_label=labels["shim"],
        note="time.process_time() around `import openai` inside the child, in the rotation above: the import "
        "hook's share, without interpreter start and exit",
    )
    figures_cpu.append(fig_import_cpu)
    attribution = [
        f"shim, python -c pass: +{shim_pass:.1f} ms; sitecustomize {shim_sc['sitecustomize_ms']:.1f} ms of imports "
        f"({_rows_text(shim_sc['sitecustomize_children_ms'], 3)} ms).",
        f"weave-run python -c pass: +{wr_pass:.1f} ms = the shim in the exec'd child {shim_pass:.1f} ms "
        f"+ a bare launcher (start + exec) {floor_pass - shim_pass:.1f} ms + weave-run's own work "
        f"{wr_pass - floor_pass:.1f} ms. Its phases, each round in a fresh interpreter ({phases['runs']} rounds, in the rotation above):",
    ]
    for k, v in phases["median_ms"].items():
        attribution.append(f"  {v:7.2f} ms  {k}")
    attribution.append(f"  {phase_sum:7.2f} ms  sum (without the info line)")
    for k, e in phases["errors"].items():
        attribution.append(f"  (not measured: {k}: {e})")
    attribution += [
        f"opentelemetry-instrument python -c pass: +{ms(s_pass['opentelemetry-instrument']) - base_pass:.0f} ms; "
        f"its launcher imports {otel_l['imports_ms']:.0f} ms, the exec'd child's sitecustomize "
        f"{otel_c['sitecustomize_ms']:.0f} ms (largest: {top_child(profiles['pass/opentelemetry-instrument'])}; "
        f"openai's own modules {dict(otel_c['self_by_package_ms']).get('openai', 0):.0f} ms self time: the "
        "instrumentor imports openai and the resources it patches at start-up).",
        f"import openai with the shim: the import itself costs {fig_import_cpu['diff']:+.1f} ms of CPU "
        f"[95% CI {fig_import_cpu['diff_ci95'][0]:.1f}, {fig_import_cpu['diff_ci95'][1]:.1f}] "
        f"({fig_import_cpu['baseline']['median']:.1f} ms without): the import hook's lookups, nothing patched.",
    ]
    it_head = [f"-X importtime, medians of {importtime_runs} interleaved runs (ms):"]
    it_all = it_head + [line for key, procs in profiles.items() for line in profile_text(key, procs)]
    it_docs = it_head + [line for key in DOCS_PROFILES for line in profile_text(key, profiles[key])]
    attribution += [""] + it_all

    print()
    print("wall clock:")
    _stats.print_table(figures)
    print()
    print("CPU time (user+sys) of the same runs: what the process does, whatever else the machine is doing:")
    print(_stats.format_table(figures_cpu).split("\n\n")[0])
    print()
    print(
        f"targets: the shim adds < {TARGET_PASS_MS:g} ms to python -c pass (weave-run reported, not held to it: "
        f"it is one more interpreter start before exec); the shim and weave-run add < {TARGET_OPENAI_MS:g} ms "
        "to import openai."
    )
    print()
    print("\n".join(attribution))

    elapsed = time.perf_counter() - started
    payload = {
        **_stats.result_head("startup", args.quick, command, elapsed, machine, waited_for_quiet_s=waited),
        "config": {
            "venv": VENV,
            "venv_python": python,
            "requirements": os.path.relpath(REQUIREMENTS, REPO),
            "rounds_pass": rounds_pass,
            "rounds_openai": rounds_openai,
            "warmup": warmup,
            "importtime_runs": importtime_runs,
            "env_added": dict(EXPORTERS_OFF, PATH=os.path.dirname(python) + os.pathsep + "..."),
            "variants": {g: {n: a for n, (a, _) in v.items()} for g, v in groups.items()},
            "variant_labels": labels,
        },
        "figures": figures,
        "figures_cpu": figures_cpu,
        "details": {
            "venv": venv,
            "probe": probe,
            "sanity": checks,
            "launcher_phases": phases,
            "importtime": profiles,
            "attribution": attribution,
        },
    }
    path = _stats.write_json(args.json, payload)
    print(
        f"\nwrote {os.path.relpath(path)} ({elapsed - waited:.0f} s, of which virtual environment "
        f"{venv['seconds']:.0f} s; plus {waited:.0f} s waiting for a quiet machine)"
    )
    if args.quick or args.no_docs:
        print("docs/benchmarks.md not written (" + ("--quick" if args.quick else "--no-docs") + ")")
    else:
        section = docs_section(payload, figures, figures_cpu, attribution[: -len(it_all)] + it_docs, command)
        print(f"wrote {os.path.relpath(write_docs(section))}")
    missed = [f["name"] for f in figures if f["result"] == "MISS"]
    if missed:
        print("MISSED: " + "; ".join(missed))
    return 1 if (missed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared helpers for the benchmarks in ``bench/``: controlled child environments,
interleaved rounds, medians, and figures compared against a baseline measured in the
same run.

Generic on purpose: nothing here knows about weave-agent. A benchmark builds a few
*variants* (callables returning one sample each), runs them with ``interleave()`` so that
slow drifts of the machine (thermal, other load) hit every variant alike, and turns the
samples into figures with ``compare()``. ``print_table()`` and ``write_json()`` report.
"""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time

if False:  # typing only
    from collections.abc import Callable, Iterable, Mapping, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS_DIR = os.path.join(HERE, "results")

# Environment variables that change what a Python child does or how fast it does it.
# Stripped from every child unless the benchmark sets them itself.
STRIP_PREFIXES = ("WEAVE_AGENT_", "OTEL_")
KEEP_PYTHON_VARS = frozenset({"PYTHONHOME", "PYTHONIOENCODING", "PYTHONUTF8"})


def clean_env(extra: Mapping[str, str] | None = None, pycache_prefix: str | None = None) -> dict[str, str]:
    """``os.environ`` without the agent's and OpenTelemetry's variables and without the
    ``PYTHON*`` variables that alter start-up or imports (``PYTHONPATH``,
    ``PYTHONDONTWRITEBYTECODE``, ``PYTHONPROFILEIMPORTTIME``, ``PYTHONSTARTUP``, ...),
    then ``extra`` on top.

    ``pycache_prefix`` (``PYTHONPYCACHEPREFIX``) lets children read and write bytecode
    caches outside the source tree, so imports are measured with ``.pyc`` files (as an
    installed package has them) even when the source tree must stay clean.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(STRIP_PREFIXES) and not (k.startswith("PYTHON") and k not in KEEP_PYTHON_VARS)
    }
    if pycache_prefix:
        env["PYTHONPYCACHEPREFIX"] = pycache_prefix
    if extra:
        env.update(extra)
    return env


def run(argv: Sequence[str], env: Mapping[str, str], cwd: str | None = None) -> subprocess.CompletedProcess:
    """Run a child, capturing its output; a failure raises with the child's stderr."""
    proc = subprocess.run(list(argv), env=dict(env), cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"child failed (exit {proc.returncode}): {' '.join(argv[:3])}\n{proc.stderr[-2000:]}")
    return proc


def wall_time(argv: Sequence[str], env: Mapping[str, str], cwd: str | None = None) -> float:
    """Wall-clock seconds of one child, ``perf_counter`` around ``subprocess.run``.

    Output goes to DEVNULL (no pipe to drain); a non-zero exit raises.
    """
    argv = list(argv)
    env = dict(env)
    t0 = time.perf_counter()
    rc = subprocess.run(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    ).returncode
    elapsed = time.perf_counter() - t0
    if rc != 0:
        run(argv, env, cwd)  # again, to raise with its stderr
        raise RuntimeError(f"child failed (exit {rc}): {' '.join(argv[:3])}")
    return elapsed


def run_json(argv: Sequence[str], env: Mapping[str, str], cwd: str | None = None) -> object:
    """Run a child that prints one JSON document on its last stdout line; return it."""
    out = run(argv, env, cwd).stdout.strip().splitlines()
    if not out:
        raise RuntimeError(f"child printed nothing: {' '.join(argv[:3])}")
    return json.loads(out[-1])


def wall_and_cpu(argv: list[str], env: dict, cwd: str) -> tuple[float, float]:
    """``wall_time`` of one child, and the child's user+sys CPU seconds (an exec'd
    command is the same process, so they count too). CPU time hardly moves when other
    work shares the machine; wall clock does."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = wall_time(argv, env, cwd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def interleave(
    variants: Mapping[str, Callable[[], object]],
    rounds: int,
    warmup: int = 1,
    progress: str | None = None,
) -> dict[str, list]:
    """Call every variant once per round, the order rotated each round (A B C, B C A,
    C A B, ...), so that a drift of the machine falls on all variants alike and no
    variant always runs first. ``warmup`` rounds run first and are discarded (bytecode
    caches, page cache). Returns ``{name: [sample per round]}``."""
    names = list(variants)
    samples: dict[str, list] = {n: [] for n in names}
    total = warmup + rounds
    for r in range(total):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            value = variants[name]()
            if r >= warmup:
                samples[name].append(value)
        if progress and sys.stderr.isatty():
            sys.stderr.write(f"\r{progress}: round {r + 1}/{total} ")
            sys.stderr.flush()
    if progress and sys.stderr.isatty():
        sys.stderr.write("\r" + " " * (len(progress) + 24) + "\r")
    return samples


def median(xs: Iterable[float]) -> float:
    return statistics.median(list(xs))


def summary(xs: Sequence[float]) -> dict[str, float]:
    """n, median, min, max and the quartiles of ``xs``."""
    xs = sorted(xs)
    if len(xs) >= 2:
        q1, _, q3 = statistics.quantiles(xs, n=4)
    else:
        q1 = q3 = xs[0]
    return {"n": len(xs), "median": statistics.median(xs), "min": xs[0], "max": xs[-1], "q1": q1, "q3": q3}


def diff_ci(
    baseline: Sequence[float], variant: Sequence[float], resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95% bootstrap interval of ``median(variant) - median(baseline)`` (deterministic seed):
    how much of a difference the noise of this run could produce."""
    rng = random.Random(seed)
    b, v = list(baseline), list(variant)
    diffs = sorted(
        statistics.median(rng.choices(v, k=len(v))) - statistics.median(rng.choices(b, k=len(b)))
        for _ in range(resamples)
    )
    return diffs[int(0.025 * resamples)], diffs[int(0.975 * resamples) - 1]


def compare(
    name: str,
    baseline: Sequence[float] | None,
    variant: Sequence[float],
    unit: str,
    target: float | None = None,
    target_kind: str = "ratio",
    scale: float = 1.0,
    baseline_label: str = "",
    variant_label: str = "",
    note: str = "",
) -> dict:
    """One figure: medians of baseline and variant, their difference and ratio, and the
    verdict against ``target``.

    ``target_kind``: ``"ratio"`` (variant/baseline <= target), ``"diff"``
    (variant - baseline <= target, in ``unit``) or ``"value"`` (variant <= target, in
    ``unit``). ``scale`` converts the samples into ``unit`` (1e3 for seconds -> ms).
    """
    vs = [x * scale for x in variant]
    fig: dict = {
        "name": name,
        "unit": unit,
        "baseline_label": baseline_label,
        "variant_label": variant_label,
        "variant": summary(vs),
        "baseline": None,
        "diff": None,
        "ratio": None,
        "diff_ci95": None,
        "target": target,
        "target_kind": target_kind,
        "result": None,
        "note": note,
    }
    vm = fig["variant"]["median"]
    if baseline is not None:
        bs = [x * scale for x in baseline]
        fig["baseline"] = summary(bs)
        bm = fig["baseline"]["median"]
        fig["diff"] = vm - bm
        fig["ratio"] = vm / bm if bm else None
        fig["diff_ci95"] = list(diff_ci(bs, vs))
    if target is not None:
        measured = {"ratio": fig["ratio"], "diff": fig["diff"], "value": vm}[target_kind]
        fig["result"] = "PASS" if measured is not None and measured <= target else "MISS"
    return fig


def _fmt(x: float | None, unit: str = "") -> str:
    if x is None:
        return "-"
    a = abs(x)
    digits = 0 if a >= 1000 else 1 if a >= 100 else 2 if a >= 1 else 3
    return f"{x:.{digits}f}" + (" " + unit if unit else "")


def _target_text(fig: dict) -> str:
    t = fig["target"]
    if t is None:
        return "-"
    kind = fig["target_kind"]
    if kind == "ratio":
        return f"ratio <= {t:.2f}"
    if kind == "diff":
        return f"diff < {_fmt(t, fig['unit'])}"
    return f"< {_fmt(t, fig['unit'])}"


def format_table(figures: Sequence[dict]) -> str:
    header = ("figure", "baseline", "variant", "diff [95% CI]", "ratio", "target", "result")
    rows = [header]
    for f in figures:
        u = f["unit"]
        base = _fmt(f["baseline"]["median"], u) if f["baseline"] else "-"
        diff = "-"
        if f["diff"] is not None:
            lo, hi = f["diff_ci95"]
            diff = f"{_fmt(f['diff'], u)} [{_fmt(lo)}, {_fmt(hi)}]"
        rows.append(
            (
                f["name"],
                base,
                _fmt(f["variant"]["median"], u),
                diff,
                f"{f['ratio']:.4f}" if f["ratio"] is not None else "-",
                _target_text(f),
                f["result"] or "info",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for i, r in enumerate(rows):
        lines.append(
            "  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths, strict=True)))
        )
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [
        f"  {f['name']}: baseline = {f['baseline_label'] or '-'}; variant = {f['variant_label'] or '-'}"
        + (f"; {f['note']}" if f["note"] else "")
        for f in figures
    ]
    return "\n".join(lines) + "\n\n" + "\n".join(notes)


def print_table(figures: Sequence[dict]) -> None:
    print(format_table(figures))


def machine() -> dict:
    """Where and with what the numbers were taken."""
    info = {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        info["load_avg"] = os.getloadavg()
    except (AttributeError, OSError):
        pass
    try:
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def result_head(benchmark: str, quick: bool, command: str, elapsed: float, machine_info: dict, **extra: object) -> dict:
    """The first keys of a benchmark's JSON: what ran, how long, where, the load at its end."""
    head = {"benchmark": benchmark, "quick": quick, "command": command, "elapsed_s": elapsed}
    head.update(extra)
    head["load_avg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    head["machine"] = machine_info
    return head


def write_json(path: str, payload: object) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)
    return path


def markdown_table(figures: list[dict]) -> str:
    fmt = _fmt
    out = [
        "| figure | baseline | variant | added [95% CI] | ratio | target | result |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for f in figures:
        u = f["unit"]
        lo, hi = f["diff_ci95"]
        out.append(
            f"| {f['name']} | {fmt(f['baseline']['median'], u)} | {fmt(f['variant']['median'], u)} "
            f"| {fmt(f['diff'], u)} [{fmt(lo)}, {fmt(hi)}] | {f['ratio']:.2f} "
            f"| {_target_text(f)} | {f['result'] or 'info'} |"
        )
    return "\n".join(out)


def write_docs_section(path: str, begin: str, end: str, section: str) -> str:
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    else:
        text = (
            "# Benchmarks\n\n"
            "Figures from the commands in `bench/` (see `bench/README.md` for how they are taken). "
            "Each section is written by its benchmark and names its machine, versions, command and date; "
            "it is replaced whole on the next full run.\n"
        )
    block = f"{begin}\n{section.strip()}\n{end}"
    b, e = text.find(begin), text.find(end)
    if b != -1 and e > b:
        text = text[:b] + block + text[e + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path

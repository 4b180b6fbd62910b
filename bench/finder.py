"""What the import hook costs a process that imports nothing the agent watches.

    python bench/finder.py [--quick]

Three figures, each against a baseline measured in the same run (see bench/README.md):

1. stdlib imports: a fresh interpreter imports a few hundred standard-library modules,
   timed inside the child around the import loop; with the finder installed and 30
   (unimported) names watched vs. without it. Target: ratio <= 1.02.
2. one unwatched ``Finder.find_spec`` call, in ns, next to a no-op method call with the
   same signature (the floor). Target: < 250 ns.
3. ``python -c pass`` with the sitecustomize shim on ``PYTHONPATH`` (the whole bootstrap)
   vs. without, wall clock; plus ``-X importtime`` attribution. Target: < 3 ms added.

Prints a table and writes bench/results/finder.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _stats

REPO = os.path.dirname(_stats.HERE)
WATCHED = 30

TARGET_IMPORT_RATIO = 1.02
TARGET_FIND_SPEC_NS = 250.0
TARGET_STARTUP_MS = 3.0

# Never imported by the benchmark: side effects at import (a browser, printing, a GUI,
# terminal state), test suites, Windows-only, or deprecated (a warning at import in
# 3.11/3.12, gone in 3.12/3.13). ``runpy`` is watched by the finder itself (for
# ``python -m``), so it would not measure the unwatched path. ``__future__`` is imported
# by weave_agent in both variants.
EXCLUDE = frozenset(
    {
        # side effects at import
        "antigravity", "this", "__hello__", "__phello__", "readline", "rlcompleter",
        # GUI, test suites, tooling that is not a library
        "idlelib", "tkinter", "turtle", "turtledemo", "test", "lib2to3", "ensurepip",
        # deprecated: a warning at import, removed in 3.12 or 3.13
        "distutils", "imp", "asyncore", "asynchat", "smtpd", "cgi", "cgitb", "crypt",
        "nntplib", "telnetlib", "uu", "xdrlib", "sndhdr", "spwd", "sunau", "pipes", "nis",
        "msilib", "ossaudiodev", "audioop", "chunk", "mailcap", "aifc", "imghdr",
        "sre_compile", "sre_constants", "sre_parse",
        # Windows only, or built only for CPython's own tests
        "msvcrt", "winreg", "winsound", "nt", "xxsubtype", "xxlimited", "xxlimited_35",
        # watched by the finder, already imported, or a hundred codecs / a data blob
        "runpy", "site", "__future__", "encodings", "pydoc_data",
    }
)  # fmt: skip
# Submodule names never imported (``__main__`` runs a program; tests; Windows).
EXCLUDE_SUB = re.compile(r"(^|\.)(__main__|tests?|_?win\w*|\w*_win32|\w*msvc\w*)$")

# Lists the candidates (top-level stdlib modules and one level of submodules of stdlib
# packages), then imports each in order with warnings as errors and stdout/stderr
# captured: a module that fails, warns or prints is dropped. Prints the survivors.
# Modules a timed child has already loaded before its loop (start-up, weave_agent) are
# left out: importing them again would not reach any finder.
VET_CHILD = r"""
import io, json, os, re, sys, warnings
exclude = set(json.loads(sys.argv[1]))
exclude_sub = re.compile(sys.argv[2])
preloaded = set(sys.argv[3].split(","))  # what a timed child has loaded before its loop
top = sorted(n for n in sys.stdlib_module_names if not n.startswith("_") and n not in exclude)
import importlib.util, pkgutil
candidates = []
for name in top:
    if name not in preloaded:
        candidates.append(name)
    try:
        spec = importlib.util.find_spec(name)
    except Exception:
        continue
    if spec is None or not spec.submodule_search_locations:
        continue
    for info in pkgutil.iter_modules(spec.submodule_search_locations):
        sub = name + "." + info.name
        if not info.name.startswith("_") and not exclude_sub.search(sub) and sub not in preloaded:
            candidates.append(sub)
ok, rejected = [], {}
for name in candidates:
    out, err = io.StringIO(), io.StringIO()
    real = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            __import__(name)
    except BaseException as exc:
        rejected[name] = f"{type(exc).__name__}: {str(exc)[:80]}"
        continue
    finally:
        sys.stdout, sys.stderr = real
    if out.getvalue() or err.getvalue():
        rejected[name] = "printed at import"
    else:
        ok.append(name)
print(json.dumps({"ok": ok, "rejected": rejected}))
"""

# Figure 1, one round. argv: variant ("finder"/"baseline"), file with the module names.
IMPORT_CHILD = r"""
import sys, json, time
variant, names_file = sys.argv[1], sys.argv[2]
with open(names_file) as f:
    names = json.load(f)
import weave_agent.hook.importhook as importhook  # both variants: same modules loaded
if variant == "finder":
    importhook.install()
    def hook(module):
        pass
    for i in range(WATCHED):
        importhook.when_imported(f"vendor{i}", hook)
    assert sys.meta_path[0] is importhook._finder
    assert len(importhook.watched()) >= WATCHED
before = len(sys.modules)
imp = __import__
failed = 0
t0 = time.perf_counter()
for name in names:
    try:
        imp(name)
    except Exception:
        failed += 1
t1 = time.perf_counter()
print(json.dumps({"seconds": t1 - t0, "new_modules": len(sys.modules) - before, "failed": failed}))
""".replace("WATCHED", str(WATCHED))

# Figure 2: ns per call, the two callables interleaved rep by rep in one process.
FIND_SPEC_CHILD = r"""
import sys, json, timeit
reps, number = int(sys.argv[1]), int(sys.argv[2])
import weave_agent.hook.importhook as importhook
importhook.install()
def hook(module):
    pass
for i in range(WATCHED):
    importhook.when_imported(f"vendor{i}", hook)
finder = importhook._finder
assert finder is not None and sys.meta_path[0] is finder

class Noop:
    def find_spec(self, fullname, path=None, target=None):
        return None

name = "some.unwatched.name"
assert finder.find_spec(name, None, None) is None
# As importlib calls it: attribute lookup on the finder, then the call.
timers = {
    "noop": timeit.Timer("obj.find_spec(name, None, None)", globals={"obj": Noop(), "name": name}),
    "find_spec": timeit.Timer("obj.find_spec(name, None, None)", globals={"obj": finder, "name": name}),
}
out = {k: [] for k in timers}
keys = list(timers)
for t in timers.values():
    t.timeit(number // 10)  # warm-up
for r in range(reps):
    for k in (keys if r % 2 == 0 else keys[::-1]):
        out[k].append(timers[k].timeit(number) / number * 1e9)
print(json.dumps(out))
""".replace("WATCHED", str(WATCHED))

MODULES_CHILD = "import sys, json; print(json.dumps(sorted(sys.modules)))"
# The modules a timed child of figure 1 has loaded when its loop starts (no json here).
PRELOADED_CHILD = "import sys, weave_agent.hook.importhook; print(','.join(sorted(sys.modules)))"

IMPORTTIME_RE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


def _int(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


def shim_dir() -> str:
    try:
        import weave_agent.sitecustomize_shim as shim

        return os.path.abspath(next(iter(shim.__path__)))
    except (ImportError, AttributeError, StopIteration):
        return os.path.join(REPO, "sitecustomize_shim")


def vet_modules(env: dict, cwd: str) -> dict:
    preloaded = _stats.run([sys.executable, "-c", PRELOADED_CHILD], env, cwd).stdout.strip()
    result = _stats.run_json(
        [sys.executable, "-c", VET_CHILD, json.dumps(sorted(EXCLUDE)), EXCLUDE_SUB.pattern, preloaded], env, cwd
    )
    assert isinstance(result, dict)
    return result


def bench_imports(env: dict, cwd: str, names_file: str, rounds: int) -> tuple[dict, dict]:
    def child(variant: str):  # type: ignore[no-untyped-def]
        return lambda: _stats.run_json([sys.executable, "-c", IMPORT_CHILD, variant, names_file], env, cwd)

    samples = _stats.interleave(
        {"baseline": child("baseline"), "finder": child("finder")}, rounds, warmup=2, progress="stdlib imports"
    )
    for s in samples["baseline"] + samples["finder"]:
        if s["failed"]:
            raise RuntimeError(f"a vetted module failed to import in a round: {s!r}")
    base = [s["seconds"] for s in samples["baseline"]]
    var = [s["seconds"] for s in samples["finder"]]
    new_modules = statistics.median(s["new_modules"] for s in samples["finder"])
    paired = statistics.median(v / b for b, v in zip(base, var, strict=True))
    with open(names_file) as f:
        count = len(json.load(f))
    fig = _stats.compare(
        "stdlib imports (fresh interpreter)",
        base,
        var,
        "ms",
        TARGET_IMPORT_RATIO,
        "ratio",
        scale=1e3,
        baseline_label="weave_agent.hook.importhook imported, finder not installed",
        variant_label=f"finder installed, {WATCHED} unwatched names watched",
        note=f"{count} modules imported per round ({new_modules:.0f} with dependencies); {rounds} rounds; "
        f"median of per-round ratios {paired:.4f}",
    )
    return fig, {"new_modules": new_modules, "rounds": rounds, "paired_ratio_median": paired}


def bench_find_spec(env: dict, cwd: str, reps: int, number: int) -> dict:
    out = _stats.run_json([sys.executable, "-c", FIND_SPEC_CHILD, str(reps), str(number)], env, cwd)
    assert isinstance(out, dict)
    return _stats.compare(
        "unwatched find_spec call",
        out["noop"],
        out["find_spec"],
        "ns",
        TARGET_FIND_SPEC_NS,
        "value",
        baseline_label="no-op method, same signature (the floor)",
        variant_label=f"Finder.find_spec('some.unwatched.name', None, None), {WATCHED} names watched",
        note=f"{reps} reps x {number} calls, interleaved; includes attribute lookup and the timeit loop",
    )


def parse_importtime(stderr: str) -> list[tuple[int, str, int, int]]:
    """``-X importtime`` lines as ``(depth, module, self_us, cumulative_us)``, in order."""
    rows = []
    for line in stderr.splitlines():
        m = IMPORTTIME_RE.match(line)
        if m:
            rows.append((len(m.group(3)) // 2, m.group(4), int(m.group(1)), int(m.group(2))))
    return rows


def subtree(rows: list[tuple[int, str, int, int]], name: str) -> list[tuple[int, str, int, int]]:
    """The last top-most ``name`` line and everything it imported (printed just before it)."""
    ends = [i for i, r in enumerate(rows) if r[1] == name]
    if not ends:
        return []
    end = min(ends, key=lambda i: (rows[i][0], -i))
    start = end
    while start > 0 and rows[start - 1][0] > rows[end][0]:
        start -= 1
    return rows[start : end + 1]


def importtime_attribution(envs: dict, cwd: str, runs: int) -> dict:
    """Medians over ``runs`` of: ``site``'s cumulative time without and with the shim, and
    the shim's whole import tree (``sitecustomize`` and what it imported)."""
    argv = [sys.executable, "-X", "importtime", "-c", "pass"]
    site: dict[str, list[int]] = {"baseline": [], "shim": []}
    tree: dict[tuple[int, str], list[tuple[int, int]]] = {}
    shape: list[tuple[int, int, str]] = []
    for _ in range(runs):
        for variant in ("baseline", "shim"):
            rows = parse_importtime(_stats.run(argv, envs[variant], cwd).stderr)
            site[variant] += [r[3] for r in rows if r[1] == "site" and r[0] == 0]
            if variant == "shim":
                seen: dict[str, int] = {}
                for depth, name, self_us, cum_us in subtree(rows, "sitecustomize"):
                    k = seen[name] = seen.get(name, -1) + 1
                    if (k, name) not in tree:
                        shape.append((depth, k, name))
                    tree.setdefault((k, name), []).append((self_us, cum_us))
    base_depth = min((d for d, _, _ in shape), default=0)
    return {
        "runs": runs,
        "site_cumulative_us": {k: statistics.median(v) if v else None for k, v in site.items()},
        "sitecustomize_tree": [
            {
                "module": name,
                "depth": depth - base_depth,
                "self_us": statistics.median(v[0] for v in tree[(k, name)]),
                "cumulative_us": statistics.median(v[1] for v in tree[(k, name)]),
                "seen_in_runs": len(tree[(k, name)]),
            }
            for depth, k, name in shape
        ],
    }


def bench_startup(env: dict, shim: str, empty: str, cwd: str, runs: int, importtime_runs: int) -> tuple[list, dict]:
    argv = [sys.executable, "-c", "pass"]
    envs = {
        "baseline": env,
        "empty_pythonpath": dict(env, PYTHONPATH=empty),
        "shim": dict(env, PYTHONPATH=shim),
    }
    samples = _stats.interleave(
        {k: (lambda e=e: _stats.wall_time(argv, e, cwd)) for k, e in envs.items()},
        runs,
        warmup=5,
        progress="python -c pass",
    )
    figs = [
        _stats.compare(
            "python -c pass + bootstrap",
            samples["baseline"],
            samples["shim"],
            "ms",
            TARGET_STARTUP_MS,
            "diff",
            scale=1e3,
            baseline_label="no PYTHONPATH",
            variant_label=f"PYTHONPATH={shim} (sitecustomize -> bootstrap())",
            note=f"{runs} runs each, interleaved, wall clock around subprocess.run",
        ),
        _stats.compare(
            "python -c pass + empty PYTHONPATH entry",
            samples["baseline"],
            samples["empty_pythonpath"],
            "ms",
            scale=1e3,
            baseline_label="no PYTHONPATH",
            variant_label="PYTHONPATH=<an empty directory> (control: the cost of one more sys.path entry)",
        ),
    ]

    importtime = importtime_attribution(envs, cwd, importtime_runs)
    # Which modules the bootstrap adds to the process.
    base_mods = set(_stats.run_json([sys.executable, "-c", MODULES_CHILD], envs["baseline"], cwd))  # type: ignore[arg-type]
    shim_mods = set(_stats.run_json([sys.executable, "-c", MODULES_CHILD], envs["shim"], cwd))  # type: ignore[arg-type]
    details = {
        "runs": runs,
        "importtime": importtime,
        "modules_added_by_bootstrap": sorted(shim_mods - base_mods),
        "modules_removed_by_bootstrap": sorted(base_mods - shim_mods),
    }
    return figs, details


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds (about 25 s instead of about 80 s)")
    ap.add_argument(
        "--json", default=os.path.join(_stats.RESULTS_DIR, "finder.json"), help="where to write the results"
    )
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args(argv)

    if args.quick:
        import_rounds, fs_reps, fs_number, startup_runs, importtime_runs = 30, 15, 200_000, 100, 5
    else:
        import_rounds, fs_reps, fs_number, startup_runs, importtime_runs = 100, 41, 500_000, 300, 15

    started = time.perf_counter()
    pycache = os.path.join(_stats.RESULTS_DIR, "pycache")
    env = _stats.clean_env(pycache_prefix=pycache)
    shim = shim_dir()
    with tempfile.TemporaryDirectory(prefix="weave-bench-") as tmp:
        cwd = os.path.join(tmp, "cwd")  # an empty working directory: '' on sys.path finds nothing
        empty = os.path.join(tmp, "empty")
        os.makedirs(cwd)
        os.makedirs(empty)

        t = time.perf_counter()
        vetted = vet_modules(env, cwd)
        names = vetted["ok"]
        names_file = os.path.join(tmp, "modules.json")
        with open(names_file, "w") as f:
            json.dump(names, f)
        print(
            f"vetted {len(names)} stdlib modules ({len(vetted['rejected'])} rejected) "
            f"in {time.perf_counter() - t:.1f} s",
            flush=True,
        )

        t = time.perf_counter()
        fig_imports, import_details = bench_imports(env, cwd, names_file, import_rounds)
        print(f"stdlib imports: {import_rounds} rounds x 2 in {time.perf_counter() - t:.1f} s", flush=True)

        t = time.perf_counter()
        fig_find_spec = bench_find_spec(env, cwd, fs_reps, fs_number)
        print(f"find_spec: {time.perf_counter() - t:.1f} s", flush=True)

        t = time.perf_counter()
        figs_startup, startup_details = bench_startup(env, shim, empty, cwd, startup_runs, importtime_runs)
        print(f"python -c pass: {startup_runs} runs x 3 in {time.perf_counter() - t:.1f} s", flush=True)

    figures = [fig_imports, fig_find_spec] + figs_startup
    # What figure 2 predicts for figure 1: one find_spec per module the loop imported.
    predicted_us = import_details["new_modules"] * fig_find_spec["variant"]["median"] / 1e3
    import_details["predicted_finder_cost_us"] = predicted_us
    print()
    _stats.print_table(figures)
    print()
    it = startup_details["importtime"]
    site = it["site_cumulative_us"]
    print(
        f"-X importtime, median of {it['runs']} runs: site cumulative {_int(site['baseline'])} us "
        f"without the shim, {_int(site['shim'])} us with it"
    )
    print(f"  {'self us':>8} {'cumul. us':>11}  module (sitecustomize and what it imported)")
    for row in it["sitecustomize_tree"]:
        indent = "  " * row["depth"]
        print(f"  {row['self_us']:8.0f} {row['cumulative_us']:11.0f}  {indent}{row['module']}")
    print(
        f"figure 2 predicts {predicted_us:.1f} us of finder calls per stdlib round "
        f"({import_details['new_modules']:.0f} modules x {fig_find_spec['variant']['median']:.1f} ns)"
    )
    print(f"modules the bootstrap adds: {', '.join(startup_details['modules_added_by_bootstrap']) or '(none)'}")

    elapsed = time.perf_counter() - started
    payload = {
        "benchmark": "finder",
        "quick": args.quick,
        "elapsed_s": elapsed,
        "machine": _stats.machine(),
        "config": {
            "watched_names": WATCHED,
            "shim_dir": shim,
            "pycache_prefix": pycache,
            "import_rounds": import_rounds,
            "find_spec_reps": fs_reps,
            "find_spec_number": fs_number,
            "startup_runs": startup_runs,
        },
        "figures": figures,
        "details": {
            "stdlib_modules": names,
            "stdlib_rejected": vetted["rejected"],
            "imports": import_details,
            "startup": startup_details,
        },
    }
    path = _stats.write_json(args.json, payload)
    print(f"\nwrote {os.path.relpath(path)} ({elapsed:.0f} s)")
    missed = [f["name"] for f in figures if f["result"] == "MISS"]
    if missed:
        print("MISSED: " + "; ".join(missed))
    return 1 if (missed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())

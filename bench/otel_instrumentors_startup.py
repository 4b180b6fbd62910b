"""What each installed OpenTelemetry instrumentor adds to start-up under ``weave-run``.

    python bench/otel_instrumentors_startup.py [--rounds N] [--count K]

``weave-run`` reads the ``opentelemetry_instrumentor`` entry points and arms each
instrumentor on the import of its library (``agent/hook/otel_instrumentors.py``). An app
that never imports the library should pay next to nothing for it. Measured here with K
synthetic instrumentor distributions (each with the ``instruments`` extra naming a
synthetic library that is installed but never imported), in a folder put on
``PYTHONPATH``, against the same run without them, interleaved, medians of wall clock:

1. ``weave-run python -c pass``: the launcher's scan and the app's hooks, end to end;
2. the same with ``--no-otel-instrumentors`` (the switch: what the scan costs);
3. the app alone (the shim on ``PYTHONPATH``) given the K rows ``weave-run`` would pass:
   the bootstrap's share.

Uses the ``weave-run`` and ``python`` of the interpreter running it. Prints a table; the
figures go in the issue note and docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import _stats  # noqa: E402


def write_fakes(root: str, count: int) -> None:
    """``count`` libraries ``fakelibN`` 1.0 and ``count`` instrumentor packages for them."""
    for i in range(count):
        lib, inst = "fakelib%d" % i, "fakeinst%d" % i
        with open(os.path.join(root, lib + ".py"), "w") as f:
            f.write("VALUE = %d\n" % i)
        info = os.path.join(root, lib + "-1.0.dist-info")
        os.makedirs(info)
        with open(os.path.join(info, "METADATA"), "w") as f:
            f.write("Metadata-Version: 2.1\nName: %s\nVersion: 1.0\n" % lib)
        with open(os.path.join(info, "top_level.txt"), "w") as f:
            f.write(lib + "\n")
        with open(os.path.join(root, inst + ".py"), "w") as f:
            f.write("class Instrumentor:\n    def instrument(self, **kw):\n        pass\n")
        info = os.path.join(root, "opentelemetry_instrumentation_%s-0.1.dist-info" % lib)
        os.makedirs(info)
        with open(os.path.join(info, "METADATA"), "w") as f:
            f.write(
                "Metadata-Version: 2.1\nName: opentelemetry-instrumentation-%s\nVersion: 0.1\n"
                "Provides-Extra: instruments\nRequires-Dist: %s ~= 1.0 ; extra == \"instruments\"\n" % (lib, lib)
            )
        with open(os.path.join(info, "entry_points.txt"), "w") as f:
            f.write("[opentelemetry_instrumentor]\n%s = %s:Instrumentor\n" % (lib, inst))


def timed(argv: list[str], env: dict[str, str], cwd: str) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - started) * 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--count", type=int, default=10, help="synthetic instrumentors installed (default 10)")
    args = ap.parse_args(argv)
    weave_run = os.path.join(os.path.dirname(sys.executable), "weave-run")
    from weave_agent.tools.cli import shim_path

    with tempfile.TemporaryDirectory() as work, tempfile.TemporaryDirectory() as site:
        write_fakes(site, args.count)
        base = _stats.clean_env({"WEAVE_AGENT_EXPORTER": "none", "WEAVE_AGENT_QUIET": "1"})
        with_fakes = dict(base, PYTHONPATH=site)
        rows = subprocess.run(
            [sys.executable, "-c", "from weave_agent.tools import cli; import os; "
             "print(cli._environment(None, None).get(cli.OTEL_ROWS_ENV, ''))"],
            env=with_fakes, capture_output=True, text=True, check=True, cwd=work,
        ).stdout.strip()  # fmt: skip
        armed = [r for r in rows.split(";") if r.startswith("fakelib")]
        assert len(armed) == args.count, rows
        shim = dict(base, PYTHONPATH=os.pathsep.join([shim_path(), site]))
        variants = {
            "weave-run, no synthetic instrumentors": ([weave_run, sys.executable, "-c", "pass"], base),
            "weave-run, %d instrumentors" % args.count: ([weave_run, sys.executable, "-c", "pass"], with_fakes),
            "weave-run --no-otel-instrumentors, %d installed" % args.count: (
                [weave_run, "--no-otel-instrumentors", sys.executable, "-c", "pass"], with_fakes),
            "app alone (shim), no rows": ([sys.executable, "-c", "pass"], shim),
            "app alone (shim), %d rows" % args.count: (
                [sys.executable, "-c", "pass"], dict(shim, WEAVE_AGENT_OTEL_INSTRUMENTOR_ROWS=rows)),
        }  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in variants}
        for cmd, env in variants.values():  # warm-up: bytecode caches, page cache
            timed(cmd, env, work)
        for _ in range(args.rounds):
            for name, (cmd, env) in variants.items():
                times[name].append(timed(cmd, env, work))
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    print("%-52s %10s" % ("variant (python -c pass)", "median ms"))
    for name, ms in medians.items():
        print("%-52s %10.1f" % (name, ms))
    names = list(medians)
    launcher = (medians[names[1]] - medians[names[0]]) / args.count
    app = (medians[names[4]] - medians[names[3]]) / args.count
    print("\nper installed instrumentor whose library is never imported: weave-run end to end %+.2f ms, "
          "the app's bootstrap %+.2f ms (%d rounds)" % (launcher, app, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``weave-run``: start any Python process with the agent, without touching it.

    weave-run [OPTIONS] [--] COMMAND [ARGS...]
    weave-run list
    weave-run show [PATH...] [--last N] [--trace ID] [--follow] [--json] [--full]   (see weave_agent.tools.viewer)
    weave-run new-integration NAME --module IMPORT_NAME [...]   (see weave_agent.tools.scaffold)
    weave-run --shim-path

The launcher turns its options into environment variables, prepends the shim folder to
``PYTHONPATH`` (split and join; never a regex, never the current directory) and replaces
itself with the command (``exec``), so the exit status, signals, stdin/stdout/tty and the
PID are the app's own. Every option is also an environment variable (``--help``).
"""

from __future__ import annotations

import os
import sys

from .._version import __version__
from ..settings import FIELDS_BY_ENV, SettingError, Settings

if False:  # typing only: argparse is imported when a parser is needed
    import argparse

PROG = "weave-run"
ENTRY_POINTS_ENV = "WEAVE_AGENT_ENTRY_POINTS"
OTEL_ROWS_ENV = "WEAVE_AGENT_OTEL_INSTRUMENTOR_ROWS"


def shim_path() -> str:
    """The folder holding the agent's ``sitecustomize.py`` (put it on ``PYTHONPATH``)."""
    import weave_agent.sitecustomize_shim as shim

    return os.path.dirname(os.path.abspath(shim.__file__))


def prepend_path(existing: str | None, entry: str) -> str:
    """``entry`` first, then every entry that was there, in order, without duplicates of it
    (however spelled: ``shim/``, a relative path). Empty entries the user had are kept."""
    parts = existing.split(os.pathsep) if existing else []
    same = os.path.abspath(entry)
    return os.pathsep.join([entry] + [p for p in parts if not (p and os.path.abspath(p) == same)])


def _parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog=PROG,
        usage="%(prog)s [OPTIONS] [--] COMMAND [ARGS...]\n       %(prog)s list\n"
        "       %(prog)s show [PATH...] [--last N] [--trace ID] [--follow] [--json] [--full]\n"
        "       %(prog)s new-integration NAME --module IMPORT_NAME [--distribution DIST] [--versions SPEC] [--root DIR]",
        description="Run COMMAND with weave-agent: LLM SDK calls become OpenTelemetry spans.",
        epilog="COMMAND may be a script (app.py runs with this interpreter), python -m pkg, or any console "
        "script (uvicorn, gunicorn, pytest, celery). 'weave-run list' shows the instrumentations; "
        "'weave-run show' draws the traces of the local files as trees; "
        "'weave-run new-integration --help' writes the files of a new one.",
    )
    from .settings_doc import PUBLIC, env_help, option_help

    for s in PUBLIC:
        if s.option is None:
            continue
        help_text = option_help(s).replace("%", "%%")
        if s.flag is not None:
            parser.add_argument(s.option, dest=s.env, action="store_true", help=help_text)
        else:
            parser.add_argument(s.option, dest=s.env, metavar=s.metavar, help=help_text)
    parser.add_argument("--shim-path", action="store_true", help="print the folder to put on PYTHONPATH and exit")
    parser.add_argument("--version", action="version", version="%(prog)s " + __version__)
    parser.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    # Settings that have no option are environment variables only: --help lists them too.
    parser.formatter_class = _line_formatter()
    parser.epilog = (parser.epilog or "") + "\n\nsettings without an option (environment variables):\n" + "\n".join(
        "  " + env_help(s) for s in PUBLIC if s.option is None
    )
    return parser


def _line_formatter() -> type[argparse.HelpFormatter]:
    """The help formatter class (argparse is imported only when the parser is built)."""
    import argparse

    class _LineFormatter(argparse.HelpFormatter):
        """Wraps each line of a description or epilog on its own; an indented line is a list
        item, wrapped with a hanging indent."""

        def _fill_text(self, text: str, width: int, indent: str) -> str:
            import textwrap

            lines = []
            for line in text.split("\n"):
                if line.startswith("  "):
                    lines.append(
                        textwrap.fill(" ".join(line.split()), width, initial_indent=indent + "  ", subsequent_indent=indent + "      ")
                    )
                else:
                    lines.append(super()._fill_text(line, width, indent) if line else "")
            return "\n".join(lines)

    return _LineFormatter


def _environment(args: argparse.Namespace | None, parser: argparse.ArgumentParser | None) -> dict[str, str]:
    """The app's environment: the options as variables (``args`` None: there were none),
    the shim first on ``PYTHONPATH``, third-party rows."""
    env = dict(os.environ)
    if args is not None and parser is not None:
        from .settings_doc import PUBLIC

        for s in PUBLIC:
            value = getattr(args, s.env, None) if s.option else None
            if value in (None, False):
                continue
            if s.flag is not None:
                env[s.env] = s.flag
                continue
            try:
                FIELDS_BY_ENV[s.env].parse(value)
            except SettingError as exc:
                parser.error("%s %r: %s" % (s.option, value, exc))
            env[s.env] = value
    env["PYTHONPATH"] = prepend_path(env.get("PYTHONPATH"), shim_path())
    groups = _entry_point_groups()
    encoded = _encode_entry_points(groups)
    if encoded:
        env[ENTRY_POINTS_ENV] = encoded
    rows = _encode_otel_instrumentors(groups, env)
    if rows:
        env[OTEL_ROWS_ENV] = rows
    else:
        env.pop(OTEL_ROWS_ENV, None)  # an outer weave-run's rows: this run decides for itself
    return env


def _encode_otel_instrumentors(groups: frozenset[str], env: dict[str, str]) -> str:
    """The installed OpenTelemetry instrumentors to arm in the app, read here (see
    ``hook.otel_instrumentors``); nothing when none is installed or the switch is off."""
    from ..hook import otel_instrumentors

    if otel_instrumentors.GROUP not in groups:
        return ""
    settings = Settings.load(env)
    if not settings.enabled or not settings.otel_instrumentors:
        return ""
    return otel_instrumentors.encode(otel_instrumentors.discover(settings))


def _encode_entry_points(groups: frozenset[str]) -> str:
    """Third-party rows, read here so that the app's start-up never scans distributions."""
    from ..hook.registry import ENTRY_POINT_GROUP

    if ENTRY_POINT_GROUP not in groups:
        return ""
    from ..hook.registry import from_entry_points

    rows = []
    for row in from_entry_points().values():
        rows.append("|".join([row.name, ",".join(row.triggers), row.module, row.patcher, row.distribution or "", row.versions or ""]))
    return ";".join(rows)


def _entry_point_groups() -> frozenset[str]:
    """Which of the entry-point groups weave-run reads (third-party instrumentations,
    OpenTelemetry instrumentors) any installed distribution declares, read as plain text:
    importing ``importlib.metadata`` costs the launcher ~35 ms, and most machines have
    neither installed."""
    from ..hook.otel_instrumentors import GROUP as OTEL_GROUP
    from ..hook.registry import ENTRY_POINT_GROUP

    markers = {"[%s]" % ENTRY_POINT_GROUP: ENTRY_POINT_GROUP, "[%s]" % OTEL_GROUP: OTEL_GROUP}
    found: set[str] = set()
    for folder in sys.path:
        try:
            names = os.listdir(folder or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info")):
                try:
                    with open(os.path.join(folder or ".", name, "entry_points.txt"), encoding="utf-8") as f:
                        text = f.read()
                except OSError:
                    continue
                found.update(group for marker, group in markers.items() if marker in text)
                if len(found) == len(markers):
                    return frozenset(found)
    return frozenset(found)


_PYTHON_NAMES = frozenset({"python", "python3", "python%d.%d" % sys.version_info[:2]})


def _resolve(command: list[str]) -> list[str]:
    """A script runs with this interpreter; so does a bare ``python``: the agent is
    installed here, and a ``python`` found first on ``PATH`` may be another one."""
    head = command[0]
    if head.endswith(".py") and os.path.isfile(head):
        return [sys.executable] + command
    if head in _PYTHON_NAMES and sys.executable:
        return [sys.executable] + command[1:]
    return command


# Interpreter options that keep the agent out: -E and -I ignore PYTHONPATH (where the
# shim is), -S skips the site module (which imports sitecustomize).
_NO_AGENT_FLAGS = {"E": "ignores PYTHONPATH", "I": "ignores PYTHONPATH (isolated mode)",
                   "S": "skips the site module, which starts the agent"}
_FLAGS_WITH_VALUE = frozenset("WX")


def _agent_blocking_flags(argv: list[str]) -> list[str]:
    """The options of a Python command line (those before the script, ``-m`` or ``-c``)
    that keep the agent from starting: nothing the launcher can change from outside."""
    head = os.path.basename(argv[0])
    if not (head.startswith("python") or argv[0] == sys.executable):
        return []
    found: list[str] = []
    args = iter(argv[1:])
    for arg in args:
        if arg in ("-", "--") or not arg.startswith("-") or arg.startswith("--"):
            if arg == "--check-hash-based-pycs":
                next(args, None)
                continue
            break
        for i, flag in enumerate(arg[1:]):
            if flag in "cm":
                return found
            if flag in _NO_AGENT_FLAGS and "-" + flag not in found:
                found.append("-" + flag)
            if flag in _FLAGS_WITH_VALUE:
                if i == len(arg) - 2:
                    next(args, None)  # -W value, -X value
                break
    return found


def _say_agent_cannot_start(argv: list[str]) -> None:
    flags = _agent_blocking_flags(argv)
    if flags:
        why = "; ".join("%s %s" % (f, _NO_AGENT_FLAGS[f[1]]) for f in flags)
        sys.stderr.write(
            "%s: the agent cannot start in this command (%s): its LLM calls go untraced. Drop %s, or call "
            "weave_agent.init() at the top of the app\n" % (PROG, why, " and ".join(flags))
        )


def _exec(argv: list[str], env: dict[str, str]) -> int:
    _say_agent_cannot_start(argv)
    head = argv[0]
    if os.sep in head:
        path: str | None = head if os.path.exists(head) else None
    else:
        import shutil

        path = shutil.which(head, path=env.get("PATH"))
        if path is None:
            # which() skips files without the execute bit: tell 'not executable' apart.
            for folder in env.get("PATH", "").split(os.pathsep):
                candidate = os.path.join(folder or ".", head)
                if os.path.isfile(candidate):
                    path = candidate
                    break
    if path is None:
        if os.sep in head:
            sys.stderr.write("%s: no such file: %s\n" % (PROG, head))
        elif head.endswith(".py"):  # a script (weave-run app.py), not a command name
            sys.stderr.write("%s: no such file: %s (not in %s, nor on PATH)\n" % (PROG, head, os.getcwd()))
        else:
            sys.stderr.write("%s: command not found: %s\n" % (PROG, head))
        return 127
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        sys.stderr.write("%s: permission denied (not executable): %s\n" % (PROG, head))
        return 126
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(path, argv, env)
    except OSError as exc:
        sys.stderr.write("%s: cannot run %s: %s\n" % (PROG, head, exc.strerror))
        return 126
    return 0  # not reached


def _list(environ: dict[str, str] | None = None) -> int:
    from .listing import main as list_instrumentations

    return list_instrumentations(environ)


def _show(argv: list[str]) -> int:
    """``weave-run show``. ``--last`` takes a count of traces, 1 or more: 0 or a negative
    number is refused here, naming the option, before the viewer reads any file (to it,
    ``--last 0`` would select no trace and say the files hold none)."""
    from .viewer import _parser as show_parser
    from .viewer import main as show

    prog = PROG + " show"
    parser = show_parser(prog)
    args = parser.parse_args(argv)
    if args.last is not None and args.last < 1:
        parser.error("argument --last: accepts a whole number >= 1 (how many of the latest traces to show), got %d"
                     % args.last)
    return show(argv, prog=prog)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["list"]:
        return _list()
    if argv[:1] == ["show"]:
        return _show(argv[1:])
    if argv[:1] == ["new-integration"]:
        from .scaffold import main as new_integration

        return new_integration(argv[1:], prog=PROG + " new-integration")
    if argv and not argv[0].startswith("-"):
        # No options (``weave-run python app.py``): no parser to build. argparse and what it
        # imports (re, enum, gettext) are most of a launcher's own start-up time.
        return _exec(_resolve(argv), _environment(None, None))
    parser = _parser()
    args = parser.parse_args(argv)
    if args.shim_path:
        print(shim_path())
        return 0
    command = list(args.command)
    if command == ["list"]:  # 'weave-run --disable x list': the table under these options
        return _list(_environment(args, parser))
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        parser.error("no COMMAND given (try: %s python app.py)" % PROG)
    env = _environment(args, parser)
    return _exec(_resolve(command), env)


if __name__ == "__main__":
    sys.exit(main())

"""``weave-run new-integration``: the files of a new instrumentation and its registry row.

    weave-run new-integration NAME --module IMPORT_NAME [--distribution DIST]
                              [--versions SPEC] [--symbol PATH ...] [--root DIR]

Writes, under the repository root:

* ``instrumentations/NAME/``, in the shape every built-in vendor folder has:
  ``__init__.py``; ``NAME.py`` (``NAME_patcher``, a ``MultiPatcher`` of
  ``SymbolPatcher``\\ s on ``IMPORT_NAME``); ``extract.py`` (an ``Extractor`` that reads
  ``model``/``messages`` and OpenAI- or Anthropic-shaped responses); ``streaming.py`` (a
  stream accumulator); ``credentials.py`` (the secrets a client holds, scrubbed from what
  is exported);
* ``tests/instrumentations/NAME/NAME_test.py`` (a vcr-marked quickstart test using the
  ``spans`` and ``instrumentation`` fixtures);
* the registry row, inserted above ``# new-integration: rows above this line`` in
  ``instrumentations/registry.py``.

Packaging needs no edit (``setup.py`` finds new folders). Nothing is written unless every
check passes: a name that is not a lowercase-able Python identifier (or is a keyword), an
existing ``instrumentations/NAME`` folder (or module), an existing test file, a registry
row of that name, or a registry without the marker line is refused with
:class:`ScaffoldError` (``weave-run`` prints it on one line and exits 2).

The root, when not given: the nearest folder from the current directory upwards that is
a weave-agent checkout (holds ``pyproject.toml`` and ``instrumentations/registry.py``);
else the checkout an editable install of ``weave_agent`` runs from; else it is refused
(an installed, non-editable ``weave_agent`` is never written to).
"""

from __future__ import annotations

import ast
import json
import keyword
import os
import re
from pathlib import Path
from string import Template

MARKER = "# new-integration: rows above this line"
REGISTRY = Path("instrumentations") / "registry.py"

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_DISTRIBUTION = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")


class ScaffoldError(Exception):
    """A refusal: nothing was written."""


class Scaffold:
    """What ``new_integration`` wrote: the root, the created files and the registry."""

    __slots__ = ("root", "name", "files", "registry", "row")

    def __init__(self, root: Path, name: str, files: list[Path], registry: Path, row: tuple) -> None:
        self.root = root
        self.name = name
        self.files = files
        self.registry = registry
        self.row = row

    def __repr__(self) -> str:
        return "Scaffold(%r, files=%r)" % (self.name, [str(f) for f in self.files])


# --- the root -------------------------------------------------------------------------------


def is_checkout(folder: Path) -> bool:
    """A weave-agent source tree: ``pyproject.toml`` beside ``instrumentations/registry.py``."""
    return (folder / "pyproject.toml").is_file() and (folder / REGISTRY).is_file()


def editable_root() -> Path | None:
    """The checkout ``weave_agent`` is imported from when installed editable (its package
    folder is the checkout's ``agent/``), else None."""
    import weave_agent

    package = Path(weave_agent.__file__).resolve().parent
    root = package.parent
    return root if package.name == "agent" and is_checkout(root) else None


def find_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The default root: a checkout at or above ``start`` (the current directory), else the
    editable install's checkout."""
    here = Path(start if start is not None else os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if is_checkout(folder):
            return folder
    root = editable_root()
    if root is not None:
        return root
    raise ScaffoldError(
        "no weave-agent checkout at or above %s and weave_agent is not installed editable: pass --root DIR" % here
    )


# --- checks ---------------------------------------------------------------------------------


def _check_name(name: str) -> None:
    if not name.isidentifier() or not name.isascii() or keyword.iskeyword(name) or name.startswith("_"):
        raise ScaffoldError("name %r is not a valid identifier (use letters, digits and _, like 'acme')" % name)
    if name != name.lower():
        raise ScaffoldError("name %r must be lowercase (instrumentation names are matched lowercased)" % name)


def _default_distribution(module: str) -> str:
    """The installed distribution that provides ``module``'s top-level package, else that name."""
    top = module.split(".", 1)[0]
    try:
        from importlib.metadata import packages_distributions

        found = packages_distributions().get(top)
    except Exception:
        found = None
    return found[0] if found else top


def _registry_names(tree: ast.Module) -> list[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "INSTRUMENTATIONS" for t in node.targets):
            rows = ast.literal_eval(node.value)
            return [row[0] for row in rows]
    raise ScaffoldError("%s defines no INSTRUMENTATIONS table" % REGISTRY)


def _insert_row(text: str, lines: list[str]) -> str:
    src = text.splitlines(keepends=True)
    at = [i for i, line in enumerate(src) if line.strip() == MARKER]
    if len(at) != 1:
        raise ScaffoldError(
            "%s has %s marker line %r: add it back where new rows go"
            % (REGISTRY, "no" if not at else "more than one", MARKER)
        )
    indent = src[at[0]][: len(src[at[0]]) - len(src[at[0]].lstrip())]
    block = "".join(indent + line + "\n" if line else "\n" for line in lines)
    return "".join(src[: at[0]]) + block + "".join(src[at[0] :])


def _q(value: str | None) -> str:
    return "None" if value is None else json.dumps(value)


# --- templates ------------------------------------------------------------------------------

_INIT = Template('''\
"""${title}: calls of the ``${module}`` SDK as GenAI spans (see ``${name}.py``)."""

from .${name} import ${name}_patcher

__all__ = ["${name}_patcher"]
''')

_MODULE = Template('''\
"""${title} SDK (``${distribution}`` ${versions_doc}): what is patched, where, for which versions.

Written by ``weave-run new-integration``; a working start, not the finished instrumentation.
Read ``instrumentations/README.md`` and compare with ``instrumentations/openai/``, then:

* ``MODULE``/``TARGETS`` here: the module that *defines* the SDK's resource classes and the
  methods that send one model request, sync and async (``"Chat.create"``,
  ``"AsyncChat.create"``). Keep ``MODULE`` equal to the trigger of the row in
  ``registry.py``, and list every module a target lives in there.
* ``extract.py``: what the SDK's requests and responses say, in GenAI terms.
* ``streaming.py``: what a streamed chunk of this SDK carries.
* ``credentials.py``: where the SDK's client keeps its key, headers and query values.
"""

from __future__ import annotations

import importlib

from weave_agent.genai import genai_op
from weave_agent.patcher import MultiPatcher, SymbolPatcher

from .extract import ChatExtractor
from .streaming import _ACCUMULATOR

# The module that defines the patched classes: imported at patch time, never here.
MODULE = "${module}"
# The methods that send one model request, as dotted paths from MODULE. Patch the inner
# method when a helper calls another one (one model call, one span).
TARGETS = ${targets}


def _patch(path: str) -> SymbolPatcher:
    return SymbolPatcher(lambda: importlib.import_module(MODULE), path, genai_op(ChatExtractor(), _ACCUMULATOR))


${name}_patcher = MultiPatcher([_patch(path) for path in TARGETS])
''')

_EXTRACT = Template('''\
"""${title}: what the SDK's requests and responses say, in GenAI terms.

Written by ``weave-run new-integration``. ``ChatExtractor.request``/``response``: the
SDK's own parameter and field names. As written they read ``model``, ``messages``
(``role``/``content``), ``system``, the usual sampling parameters, and OpenAI-shaped
(``choices[].message``) or Anthropic-shaped (``content`` blocks) responses with
``usage``; ``provider`` is the ``gen_ai.provider.name`` of the conventions when there is one.
"""

from __future__ import annotations

from typing import Any

from weave_agent.genai import (
    INPUT_MESSAGES,
    OUTPUT_MESSAGES,
    SYSTEM_INSTRUCTIONS,
    Extractor,
    Request,
    Response,
    Usage,
    as_double,
    as_int,
)
from weave_agent.genai import field as _get

from .credentials import remember as _remember_credentials
from .streaming import _StreamAcc

# The SDK's parameter -> the conventions' attribute, and its type there (doubles are
# floats even when the app passed 1).
_SAMPLING = {
    "temperature": ("gen_ai.request.temperature", as_double),
    "top_p": ("gen_ai.request.top_p", as_double),
    "top_k": ("gen_ai.request.top_k", as_int),
    "max_tokens": ("gen_ai.request.max_tokens", as_int),
    "max_output_tokens": ("gen_ai.request.max_tokens", as_int),
    "seed": ("gen_ai.request.seed", as_int),
}
# The SDK's finish reasons mapped to the conventions' values; others are kept as they are.
_FINISH = {"tool_calls": "tool_call", "tool_use": "tool_call", "end_turn": "stop", "max_tokens": "length"}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(content: Any) -> str | None:
    """Text of a message ``content``: a string, or a list of text parts/blocks."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):  # never consume a user's iterator
        texts = [_get(part, "text") for part in content]
        return "".join(t for t in texts if isinstance(t, str))
    return None


def _parts(content: Any) -> list[dict[str, Any]]:
    text = _text(content)
    return [{"type": "text", "content": text}] if text else []


def _finish(reason: Any) -> str | None:
    return _FINISH.get(str(reason), str(reason)) if reason else None


class ChatExtractor(Extractor):
    operation = "chat"  # chat | text_completion | embeddings | generate_content ...
    provider = "${name}"  # gen_ai.provider.name

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        attrs: dict[str, Any] = {}
        for key, (attr, read) in _SAMPLING.items():
            value = read(inputs.get(key))
            if value is not None:
                attrs[attr] = value
        stop = inputs.get("stop", inputs.get("stop_sequences"))
        if isinstance(stop, str):
            attrs["gen_ai.request.stop_sequences"] = [stop]
        elif isinstance(stop, (list, tuple)) and stop:
            attrs["gen_ai.request.stop_sequences"] = [str(s) for s in stop]
        if inputs.get("stream") is True:  # set only when streaming
            attrs["gen_ai.request.stream"] = True
        content = None
        if capture:
            # ``system=`` given apart from the messages: system instructions. A system
            # message stays in the history, where it was sent.
            system = _parts(inputs.get("system"))
            messages = []
            given = inputs.get("messages")
            for m in given if isinstance(given, (list, tuple)) else ():  # never consume an iterator
                role = _get(m, "role")
                if isinstance(role, str) and role:
                    role = "system" if role == "developer" else role
                    messages.append({"role": role, "parts": _parts(_get(m, "content"))})
            content = {INPUT_MESSAGES: messages}
            if system:
                content[SYSTEM_INSTRUCTIONS] = system
        model = inputs.get("model")
        # the client's key, should a server echo it into an error (pass the client when
        # ``instance`` is one of its resources: ``instance._client``, ...)
        _remember_credentials(instance)
        # server.address/server.port: pass them from the client (instance) when it has a base URL.
        return Request(model if isinstance(model, str) else None, attrs, content)

    def response(self, output: Any, capture: bool) -> Response:
        if isinstance(output, _StreamAcc):
            rid, model, usage = output.id, output.model, output.usage
            outputs = [("".join(output.pieces), output.finish)]
        else:
            rid, model, usage = _get(output, "id"), _get(output, "model"), _get(output, "usage")
            choices = _get(output, "choices")
            if isinstance(choices, (list, tuple)):  # OpenAI-shaped: one message per choice
                outputs = [(_text(_get(_get(c, "message"), "content")), _get(c, "finish_reason")) for c in choices]
            else:  # one message: content blocks (Anthropic-shaped) or a text field
                text = _text(_get(output, "content", _get(output, "text")))
                outputs = [(text, _get(output, "stop_reason", _get(output, "finish_reason")))]
        finishes = [f for f in (_finish(reason) for _, reason in outputs) if f]
        attrs: dict[str, Any] = {}
        if isinstance(rid, str):
            attrs["gen_ai.response.id"] = rid
        if finishes:
            attrs["gen_ai.response.finish_reasons"] = finishes
        tokens = None
        if usage is not None:  # only counts the provider reported; never estimate
            tokens = Usage(
                _int(_get(usage, "input_tokens", _get(usage, "prompt_tokens"))),
                _int(_get(usage, "output_tokens", _get(usage, "completion_tokens"))),
            )
        content = None
        if capture:
            content = {
                OUTPUT_MESSAGES: [
                    {"role": "assistant", "parts": _parts(text), "finish_reason": _finish(reason) or "stop"}
                    for text, reason in outputs
                ]
            }
        return Response(attrs, tokens, model if isinstance(model, str) else None, content)
''')

_CREDENTIALS = Template('''\
"""${title}: the credentials a client was given, so that no exported string carries them.

Written by ``weave-run new-integration``. A server may echo a key (a 401 quoting it, a 404
quoting the URL with its query string) into the SDK's exception;
``weave_agent.tracing.secrets`` scrubs every value remembered here from what the agent
exports. ``credentials`` reads what the client stores (``vars``), never a property or a
token provider (which could fetch a token); as written it reads the usual names. Compare
with ``instrumentations/openai/credentials.py``.
"""

from __future__ import annotations

from typing import Any

from weave_agent.tracing.secrets import header_values, query_values, remember_client, url_values

_FIELDS = ("api_key", "auth_token", "access_token", "token", "secret_key")


def credentials(client: Any) -> list[Any]:
    """The secret strings ``client`` holds: keys and tokens, credential headers, query values."""
    stored = vars(client)
    found = [stored.get(name) for name in _FIELDS]
    for name in ("headers", "default_headers", "_custom_headers"):
        found += header_values(stored.get(name))
    for name in ("default_query", "_custom_query"):
        found += query_values(stored.get(name))
    found += url_values(stored.get("base_url"))
    return found


def remember(client: Any) -> None:
    """Learn ``client``'s credentials (once per client object: a dict lookup after that)."""
    remember_client(client, credentials)
''')

_STREAMING = Template('''\
"""${title}: streams, rebuilt chunk by chunk.

Written by ``weave-run new-integration``. ``_step``: what a streamed chunk of this SDK
carries. It runs once per chunk, between two reads of the stream: keep it small and free
of anything that may raise on an odd chunk.
"""

from __future__ import annotations

from typing import Any

from weave_agent.genai import field as _get
from weave_agent.streams import Accumulator


class _StreamAcc:
    """One stream's accumulation: text pieces, finish reason, id, model and usage."""

    __slots__ = ("pieces", "finish", "id", "model", "usage")

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.finish: Any = None
        self.id: Any = None
        self.model: Any = None
        self.usage: Any = None


def _step(acc: _StreamAcc, chunk: Any) -> _StreamAcc:
    """Runs once per chunk: a few reads and one append. As written it reads OpenAI-style
    chunks (``choices[0].delta.content``) and ``delta.text``/``text`` chunks."""
    acc.id = _get(chunk, "id") or acc.id
    acc.model = _get(chunk, "model") or acc.model
    acc.usage = _get(chunk, "usage") or acc.usage
    choices = _get(chunk, "choices")
    if choices:
        choice = choices[0]
        piece = _get(_get(choice, "delta"), "content")
        acc.finish = _get(choice, "finish_reason") or acc.finish
    else:
        delta = _get(chunk, "delta")
        piece = _get(delta, "text") if delta is not None else _get(chunk, "text")
        acc.finish = _get(delta, "stop_reason") or _get(chunk, "finish_reason") or acc.finish
    if isinstance(piece, str):
        acc.pieces.append(piece)
    return acc


_ACCUMULATOR = Accumulator(_step, None, _StreamAcc)
''')

_TEST = Template('''\
"""The ${name} instrumentation, through the real SDK and recorded cassettes (record mode none).

Written by ``weave-run new-integration``. ``test_quickstart`` is the first scenario: one
call, one span. Record its cassette (``cassettes/test_quickstart.yaml``) against a local
fake server, never the real API (``instrumentations/README.md``, section 5), then add a
test per scenario, sync and async (section 6).

    python -m pytest -q tests/instrumentations/${name}
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

HERE = Path(__file__).resolve().parent
MODEL = "example-model"  # a model the vendor serves: the span is named "chat <model>"
QUESTION = "What is the capital of France?"


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(HERE / "cassettes")


@pytest.mark.vcr
def test_quickstart(spans: Any, instrumentation: Any) -> None:
    instrumentation("${name}")
    sdk = importlib.import_module("${module}")
    # The client as a user creates it; give it a test key if it needs one (cassettes hold none).
    client = sdk.${client}()
    client.${method}(model=MODEL, messages=[{"role": "user", "content": QUESTION}])

    span = spans.one("chat " + MODEL)
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "${name}"
    assert attrs["gen_ai.request.model"] == MODEL
''')


# --- the scaffold ---------------------------------------------------------------------------


def new_integration(
    name: str,
    module: str,
    distribution: str | None = None,
    versions: str | None = None,
    root: str | os.PathLike[str] | None = None,
    symbols: list[str] | tuple[str, ...] | None = None,
) -> Scaffold:
    """Write a new instrumentation ``name`` for the SDK module ``module``; see the module doc.

    ``distribution`` defaults to the installed distribution providing ``module`` (else its
    top-level name); ``versions`` (a PEP 440 specifier) to None, any version;
    ``symbols`` to ``["Client.create"]``; ``root`` to :func:`find_root`.
    Raises :class:`ScaffoldError` (nothing written) on a refusal.
    """
    _check_name(name)
    if not _DOTTED.match(module or ""):
        raise ScaffoldError("--module %r is not an importable dotted name (like 'acme.resources.chat')" % module)
    symbols = list(symbols or ["Client.create"])
    for symbol in symbols:
        if not _DOTTED.match(symbol) or "." not in symbol:
            raise ScaffoldError("--symbol %r is not a dotted path from the module (like 'Client.create')" % symbol)
    distribution = distribution or _default_distribution(module)
    if not _DISTRIBUTION.match(distribution):
        raise ScaffoldError("--distribution %r is not a distribution name" % distribution)
    if versions is not None:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        try:
            SpecifierSet(versions)
        except InvalidSpecifier:
            raise ScaffoldError("--versions %r is not a PEP 440 specifier (like '>=1.2,<2')" % versions) from None
        if not versions:
            versions = None

    base = Path(root).resolve() if root is not None else find_root()
    registry = base / REGISTRY
    if not registry.is_file():
        raise ScaffoldError("%s not found: is %s a weave-agent checkout?" % (registry, base))
    folder = base / "instrumentations" / name
    if folder.exists() or (base / "instrumentations" / (name + ".py")).exists():
        raise ScaffoldError("%s already exists: choose another name or remove it" % folder.relative_to(base))
    test_file = base / "tests" / "instrumentations" / name / (name + "_test.py")
    if test_file.exists():
        raise ScaffoldError("%s already exists: choose another name or remove it" % test_file.relative_to(base))

    text = registry.read_text(encoding="utf-8")
    try:
        existing = _registry_names(ast.parse(text))
    except (SyntaxError, ValueError) as exc:
        raise ScaffoldError("%s cannot be read as the registry table: %s" % (REGISTRY, exc)) from None
    if name in existing:
        raise ScaffoldError("%s already has a row named %r" % (REGISTRY, name))
    row = (name, (module,), "%s.%s" % (name, name), distribution, versions)
    lines = [
        "# %s: written by weave-run new-integration; triggers are the modules that define" % name,
        "# the patched classes (instrumentations/%s/%s.py MODULE)." % (name, name),
        "(",
        "    %s," % _q(name),
        "    (%s,)," % _q(module),
        "    %s," % _q(row[2]),
        "    %s," % _q(distribution),
        "    %s,%s" % (_q(versions), "" if versions else "  # any version: set the range the patcher relies on"),
        "),",
    ]
    new_text = _insert_row(text, lines)
    if _registry_names(ast.parse(new_text)) != existing + [name]:  # the row landed inside the table, last
        raise ScaffoldError("%s: the marker line is not inside the INSTRUMENTATIONS table" % REGISTRY)

    owner, _, method = symbols[0].rpartition(".")
    values = {
        "name": name,
        "title": name.replace("_", " ").title(),
        "module": module,
        "distribution": distribution,
        "versions_doc": versions or "any version",
        "targets": "(%s%s)" % (", ".join(_q(s) for s in symbols), "," if len(symbols) == 1 else ""),
        "client": owner,
        "method": method,
    }
    files = [
        (folder / "__init__.py", _INIT.substitute(values)),
        (folder / (name + ".py"), _MODULE.substitute(values)),
        (folder / "extract.py", _EXTRACT.substitute(values)),
        (folder / "streaming.py", _STREAMING.substitute(values)),
        (folder / "credentials.py", _CREDENTIALS.substitute(values)),
        (test_file, _TEST.substitute(values)),
    ]
    written = []
    for path, content in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)
    registry.write_text(new_text, encoding="utf-8")
    return Scaffold(base, name, written, registry, row)


# --- the command ----------------------------------------------------------------------------


def main(argv: list[str], prog: str = "weave-run new-integration") -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog=prog,
        description="Write instrumentations/NAME/ (NAME_patcher, an Extractor, a stream accumulator), "
        "tests/instrumentations/NAME/NAME_test.py and the registry row.",
        epilog="--root defaults to the weave-agent checkout at or above the current directory, "
        "else the checkout weave_agent is installed editable from.",
    )
    parser.add_argument("name", metavar="NAME", help="instrumentation name, a lowercase identifier (acme)")
    parser.add_argument(
        "--module", required=True, metavar="IMPORT_NAME", help="the SDK module that defines the patched classes"
    )
    parser.add_argument(
        "--distribution",
        metavar="DIST",
        help="PyPI distribution whose version is checked (default: the one installing IMPORT_NAME)",
    )
    parser.add_argument("--versions", metavar="SPEC", help="supported versions, PEP 440 (default: any)")
    parser.add_argument(
        "--symbol",
        action="append",
        metavar="PATH",
        help="method to patch, dotted from IMPORT_NAME; repeatable (default: Client.create)",
    )
    parser.add_argument("--root", metavar="DIR", help="repository root to write into")
    args = parser.parse_args(argv)
    try:
        result = new_integration(args.name, args.module, args.distribution, args.versions, args.root, args.symbol)
    except ScaffoldError as exc:
        sys.stderr.write("%s: error: %s\n" % (prog, exc))
        return 2
    for path in result.files:
        print("created %s" % path.relative_to(result.root))
    print(
        "added row %r to %s (trigger %s, %s %s)"
        % (args.name, REGISTRY, result.row[1][0], result.row[3], result.row[4] or "any version")
    )
    print(
        "next: adapt instrumentations/%s/ (%s.py, extract.py, streaming.py, credentials.py), record a cassette, "
        "then python -m pytest -q tests/instrumentations/%s" % (args.name, args.name, args.name)
    )
    return 0

"""The compatibility matrix: each instrumentation's recorded tests against the oldest vendor
release its declared range admits and the newest one the registry serves.

    python bench/compat.py                      # every instrumentation; writes docs/compatibility.md
    python bench/compat.py --only openai        # one (or several) by name; updates only their rows
    python bench/compat.py --no-doc             # measure and print, leave docs/ alone
    /root/.pyenv/versions/3.13.0/bin/python bench/compat.py   # another Python: its own rows

Why measured and not assumed: a range in ``instrumentations/registry.py`` is a promise to
every user on a release inside it, and the default test run only ever sees one release
per vendor (``TESTED_VERSIONS``). Here each end of each range gets a virtual environment
of its own (``bench/.venvs/compat-<dist>-<version>-py<X.Y>``, git-ignored, reused while its
requirements and interpreter are the same; see ``bench/_venvs.py``) holding the repository
(non-editable), that release, what its test folder imports, and the test tools; everything
else is pinned by ``constraints/test.txt`` when it exists, except the vendor distribution
and the packages that must move with it (``MOVES_WITH``). Then
``tests/instrumentations/<vendor>/`` runs in it, from this checkout.

Release lists come from ``pip index versions`` (the ordinary client, one query per
distribution). Pre-releases are never picked. Results of other Pythons already in the
document are kept; a row whose declared range no longer matches the registry is dropped
(the range changed: it has to be measured again).

Standard library only (``packaging`` when importable, else pip's vendored copy), so any
interpreter with pip can run it.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import re
import runpy
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass

if os.path.dirname(os.path.abspath(__file__)) not in sys.path:  # run as a script, or imported by a test
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _stats  # noqa: E402
import _venvs  # noqa: E402

try:
    from packaging.specifiers import SpecifierSet
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version
except ImportError:  # a bare interpreter: pip always carries a copy
    from pip._vendor.packaging.specifiers import SpecifierSet  # type: ignore[no-redef]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[no-redef]
    from pip._vendor.packaging.version import InvalidVersion, Version  # type: ignore[no-redef]

REPO = _venvs.REPO
REGISTRY = os.path.join(REPO, "instrumentations", "registry.py")
CONSTRAINTS = os.path.join(REPO, "constraints", "test.txt")
DOC = os.path.join(REPO, "docs", "compatibility.md")
REQS_DIR = os.path.join(_venvs.VENVS, "compat-requirements")

# The test tools every vendor folder runs with (versions from the constraints file).
TEST_TOOLS = ("pytest", "pytest-asyncio", "vcrpy", "pytest-recording", "hypothesis", "pydantic", "pyyaml")

# Per instrumentation: the vendor distribution's extras its tests exercise, and what else
# its test folder imports. Worked out from each folder's imports: anthropic's Bedrock and
# Vertex tests need the SDK's own extras; mistral's GCP client test needs google-auth;
# the LangChain scenarios drive ChatOpenAI, ChatAnthropic and LangGraph graphs, and
# DeterministicFakeEmbedding needs numpy.
EXTRAS = {"anthropic": "[bedrock,vertex]", "google_genai": "[aiohttp]"}  # google_genai: the async client over aiohttp
# pydantic_ai: the test app's model is OpenAIChatModel (the OpenAI SDK, with the openai instrumentation on)
EXTRAS["pydantic_ai"] = "[openai]"
ALSO_NEEDS = {
    "mistral": ("google-auth", "requests"),
    "langchain": ("langchain-openai", "langchain-anthropic", "langgraph", "numpy"),
    # bedrock: the tests drive botocore through boto3, and AnthropicBedrock (signs with botocore)
    "bedrock": ("boto3", "anthropic"),
    # cohere: BedrockClientV2 signs with botocore through a boto3 session
    "cohere": ("boto3",),
    # openai_agents: the model calls go through the OpenAI SDK, with the openai instrumentation on
    "openai_agents": ("openai",),
    # litellm: its tests drive the OpenAI SDK underneath (Azure/OpenAI routes) with the openai instrumentation on
    "litellm": ("openai",),
    # crewai: its native OpenAI provider calls the OpenAI SDK, with the openai instrumentation on
    "crewai": ("openai",),
    # llamaindex: the scenarios drive LlamaIndex's OpenAI LLM and embeddings over the OpenAI SDK
    "llamaindex": ("llama-index-llms-openai", "llama-index-embeddings-openai", "openai"),
}

# Packages left out of the constraints for a given instrumentation: those whose compatible
# versions depend on the vendor release under test (pip resolves them against it). For
# the oldest langchain-core, the LangChain partner packages and LangGraph must be of its
# generation, and they in turn choose the openai and anthropic SDKs they were made for.
MOVES_WITH = {
    # litellm pins the OpenAI SDK (1.104: openai <3), httpx, its tokenizers, filelock (<4) and
    # boto3 to its own generation
    "litellm": ("openai", "httpx", "httpx2", "tiktoken", "tokenizers", "aiohttp", "filelock", "huggingface-hub",
                "boto3", "botocore", "s3transfer"),
    # cohere 5.x pins httpx-sse exactly and bounds fastavro and tokenizers to its generation
    "cohere": ("httpx", "httpx-sse", "fastavro", "tokenizers", "types-requests", "parameterized"),
    "openai": ("httpx",),
    # crewai pins crewai-core and crewai-cli to its own release exactly, and bounds the OpenAI SDK,
    # mcp, pydantic, instructor, json-repair, chromadb, lancedb and (1.15.0: ~=1.42) the
    # OpenTelemetry packages (the agent's too) to its generation
    "crewai": ("crewai-core", "crewai-cli", "openai", "mcp", "pydantic", "pydantic-core", "pydantic-settings",
               "instructor", "json-repair", "regex", "chromadb", "lancedb", "litellm", "opentelemetry-*",
               "protobuf", "googleapis-common-protos", "grpcio", "pyjwt", "uv"),
    # openai-agents pins the OpenAI SDK (1.x, 2.x, then 3.x over httpx2), mcp and griffe to its generation
    "openai_agents": ("openai", "httpx", "httpx2", "mcp", "mcp-types", "griffe", "griffelib", "websockets",
                      "starlette", "sse-starlette", "uvicorn", "pydantic-settings", "types-requests"),
    "groq": ("httpx",),
    # llama-index-core pins llama-index-workflows/-instrumentation to its generation; the OpenAI
    # LLM and embeddings packages bound llama-index-core and the OpenAI SDK
    "llamaindex": ("llama-index-llms-openai", "llama-index-embeddings-openai", "llama-index-workflows",
                   "llama-index-instrumentation", "openai", "httpx", "banks", "llama-index-*"),
    # ollama 0.4.x requires httpx <0.28
    "ollama": ("httpx", "httpcore"),
    # dspy pins gepa exactly to its own release (litellm and openai are its plain dependencies)
    "dspy": ("gepa",),
    # pydantic-ai-slim pins pydantic-graph exactly to its own release; 2.0 is over httpx, later releases httpx2
    "pydantic_ai": ("pydantic-graph", "genai-prices", "httpx", "httpx2"),
    # boto3 pins botocore to its own minor release, and s3transfer to boto3's; botocore < 1.34
    # caps urllib3 below 2.1
    "bedrock": ("boto3", "s3transfer", "urllib3"),
    "anthropic": (),
    # mcp pins mcp-types to its own release exactly; 2.0's httpx2 and starlette bounds are its own
    "mcp": ("mcp-types", "httpx2", "starlette", "sse-starlette", "uvicorn", "pydantic-settings"),
    # google-genai 2.x uses httpx (httpx2 only as an extra), 3.x httpx2
    "google_genai": ("httpx", "httpx2"),
    # mistralai 2.0 pins opentelemetry-semantic-conventions <0.61, which pins its
    # opentelemetry-api: the OpenTelemetry packages (the agent's too) and what they pin resolve against it.
    "mistral": ("httpx", "opentelemetry-*", "protobuf", "googleapis-common-protos", "grpcio"),
    "langchain": (
        "langchain-openai",
        "langchain-anthropic",
        "langchain-protocol",
        "langsmith",
        "langgraph",
        "langgraph-checkpoint",
        "langgraph-prebuilt",
        "langgraph-sdk",
        "openai",
        "anthropic",
        "httpx",
        "tiktoken",
    ),
}

BEGIN, END = "<!-- compat:begin -->", "<!-- compat:end -->"


@dataclass
class Row:
    """One cell of the matrix: an instrumentation at one release on one Python."""

    name: str
    distribution: str
    declared: str
    which: str  # "oldest" or "newest"
    version: str
    python: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    date: str = ""
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.passed > 0

    def cells(self) -> list[str]:
        result = "passed" if self.ok else "FAILED"
        counts = f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"
        return [
            f"`{self.name}`",
            f"`{self.distribution}`",
            f"`{self.declared}`",
            self.which,
            self.version,
            self.python,
            f"**{result}**" if not self.ok else result,
            counts,
            self.date,
            self.note,
        ]


HEADER = ["instrumentation", "distribution", "declared range", "end", "release", "Python", "result", "tests", "date", "note"]


def registry_rows() -> list[tuple[str, str, str]]:
    """``(name, distribution, versions)`` per row, read from the registry file itself (it
    imports nothing), so the matrix needs no installed agent."""
    ns = runpy.run_path(REGISTRY)
    return [(name, dist, versions) for name, _triggers, _module, dist, versions in ns["INSTRUMENTATIONS"]]


def available_versions(distribution: str) -> list[Version]:
    """Every final release the registry serves for this interpreter, oldest first."""
    argv = [sys.executable, "-m", "pip", "--disable-pip-version-check", "index", "versions", distribution]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    match = re.search(r"^Available versions: (.+)$", proc.stdout, re.M)
    if proc.returncode != 0 or not match:
        raise RuntimeError(f"pip index versions {distribution} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    out = []
    for text in match.group(1).split(","):
        try:
            v = Version(text.strip())
        except InvalidVersion:
            continue
        if not v.is_prerelease and not v.is_devrelease:
            out.append(v)
    return sorted(set(out))


def ends_of_range(distribution: str, declared: str) -> dict[str, list[str]]:
    """``{"oldest": [...], "newest": [...]}``: the releases inside ``declared``, from each end
    inwards (the newest end falls back to the next release when one cannot be installed)."""
    spec = SpecifierSet(declared)
    inside = [str(v) for v in available_versions(distribution) if v in spec]
    if not inside:
        raise RuntimeError(f"no release of {distribution} satisfies {declared}")
    return {"oldest": inside[:1], "newest": inside[::-1][:NEWEST_TRIES]}


# A listed release whose dependencies the index does not serve (yet) cannot be installed by
# anyone from it: the newest end then moves to the release before it, and the row says so.
# The oldest end never moves: a range whose first release cannot be installed is narrowed.
NEWEST_TRIES = 3
UNRESOLVABLE = re.compile(r"No matching distribution found for (\S+)|ResolutionImpossible")


def own_environments() -> tuple[str, ...]:
    """Instrumentations tested in an environment of their own (their library conflicts with
    the main test environment): their constraints are ``constraints/test-<name>.txt``."""
    return tuple(runpy.run_path(REGISTRY).get("OWN_TEST_ENVIRONMENTS", ()))


def constraints_for(name: str) -> str:
    if name in own_environments():
        return os.path.join(REPO, "constraints", f"test-{name}.txt")
    return CONSTRAINTS


def _constraint_lines(excluded: set[str], constraints: str = CONSTRAINTS) -> tuple[list[str], str]:
    """The constraints file's pins minus ``excluded`` (canonical names), and its hash."""
    if not os.path.exists(constraints):
        return [], "none"
    with open(constraints, "rb") as f:
        raw = f.read()
    kept = []
    for line in raw.decode().splitlines():
        text = line.split("#", 1)[0].strip()
        if not text or text.startswith("-"):
            continue
        name = canonicalize_name(re.split(r"[\s\[<>=!~;@]", text, maxsplit=1)[0])
        prefixes = tuple(e[:-1] for e in excluded if e.endswith("*"))
        if name not in excluded and not name.startswith(prefixes or ("\0",)):
            kept.append(text)
    return kept, hashlib.sha256(raw).hexdigest()


def requirements_file(name: str, distribution: str, version: str, venv_name: str) -> str:
    """Write the venv's requirements (with a constraints file beside it) and return its path.

    The hash of ``constraints/test.txt`` is written into the requirements file so that a
    changed constraints file rebuilds the environment (``_venvs`` stamps the requirements)."""
    os.makedirs(REQS_DIR, exist_ok=True)
    moving = {n if n.endswith("*") else canonicalize_name(n) for n in (distribution, *MOVES_WITH.get(name, ()))}
    pins, digest = _constraint_lines(moving, constraints_for(name))
    constraints_path = os.path.join(REQS_DIR, venv_name + ".constraints.txt")
    with open(constraints_path, "w") as f:
        f.write("".join(p + "\n" for p in pins))
    lines = [
        "# written by bench/compat.py",
        f"# constraints/test.txt sha256 {digest}; not constrained here: {', '.join(sorted(moving))}",
        f"-c {constraints_path}",
        f"{distribution}{EXTRAS.get(name, '')}=={version}",
        *ALSO_NEEDS.get(name, ()),
        *TEST_TOOLS,
    ]
    path = os.path.join(REQS_DIR, venv_name + ".txt")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def run_tests(python: str, name: str, release: str) -> tuple[int, int, int, str]:
    """Run ``tests/instrumentations/<name>`` with ``python``: (passed, failed, skipped, tail).

    ``WEAVE_COMPAT_RELEASE`` (``dist==version``) tells the few tests that hold the installed
    release equal to the recording's (the default run's pin) that this run differs on purpose."""
    folder = os.path.join("tests", "instrumentations", name)
    with tempfile.TemporaryDirectory(prefix="weave-compat-") as tmp:
        junit = os.path.join(tmp, "junit.xml")
        argv = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", folder, f"--junitxml={junit}"]
        extra_env = {"WEAVE_COMPAT_RELEASE": release}
        if name in own_environments():  # tests/conftest.py collects the folder only in its environment
            extra_env["WEAVE_AGENT_TEST_ENVIRONMENT"] = name
        proc = subprocess.run(argv, cwd=REPO, env=_stats.clean_env(extra_env), capture_output=True, text=True, check=False)
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
        if not os.path.exists(junit):
            return 0, 1, 0, tail
        totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for suite in ET.parse(junit).getroot().iter("testsuite"):
            for key in totals:
                totals[key] += int(suite.get(key, 0))
    failed = totals["failures"] + totals["errors"]
    passed = totals["tests"] - failed - totals["skipped"]
    if proc.returncode not in (0, 1):  # 2-5: interrupted, internal or usage error, nothing collected
        failed = max(failed, 1)
    return passed, failed, totals["skipped"], tail


def measure(name: str, distribution: str, declared: str, which: str, version: str, rebuild: bool) -> Row:
    py = "%d.%d" % sys.version_info[:2]
    venv_name = f"compat-{canonicalize_name(distribution)}-{version}-py{py}"
    row = Row(name, distribution, declared, which, version, py, date=datetime.date.today().isoformat())
    t0 = time.perf_counter()
    try:
        reqs = requirements_file(name, distribution, version, venv_name)
        info = _venvs.ensure_venv(os.path.join(_venvs.VENVS, venv_name), [reqs], rebuild)
    except Exception as exc:  # an install that fails is a result, not a crash of the matrix
        match = UNRESOLVABLE.search(str(exc))
        row.failed, row.note = 1, "not installable: " + (match.group(1) or "conflict" if match else "install failed")
        print(f"  {name} {version}: install failed\n{exc}", flush=True)
        return row
    row.passed, row.failed, row.skipped, tail = run_tests(info["python"], name, f"{distribution}=={version}")
    print(
        f"  {name} {which} {version}: {row.passed} passed, {row.failed} failed, {row.skipped} skipped"
        f" (venv {info['action']} in {info['seconds']:.0f} s; total {time.perf_counter() - t0:.0f} s)",
        flush=True,
    )
    if not row.ok:
        print(tail, flush=True)
    return row


# --- the document ---------------------------------------------------------------------


def _split(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def read_doc_rows(path: str = DOC) -> list[Row]:
    """The matrix rows already in the document (results of earlier runs, other Pythons)."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        text = f.read()
    b, e = text.find(BEGIN), text.find(END)
    rows = []
    for line in text[b:e].splitlines() if b != -1 and e > b else []:
        cells = _split(line)
        if len(cells) != len(HEADER) or not cells[0].startswith("`"):
            continue
        counts = [int(n) for n in re.findall(r"(\d+) (?:passed|failed|skipped)", cells[7])]
        if len(counts) != 3:
            continue
        rows.append(
            Row(cells[0].strip("`"), cells[1].strip("`"), cells[2].strip("`"), cells[3], cells[4], cells[5],
                counts[0], counts[1], counts[2], cells[8], cells[9])
        )
    return rows


def render(rows: list[Row], run_note: str) -> str:
    lines = [
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
        *("| " + " | ".join(r.cells()) + " |" for r in rows),
    ]
    return "\n".join([run_note, "", *lines])


def write_doc(rows: list[Row], run_note: str, path: str = DOC) -> None:
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    else:
        text = "# Compatibility\n\n" + BEGIN + "\n" + END + "\n"
    b, e = text.find(BEGIN), text.find(END)
    text = text[: b + len(BEGIN)] + "\n" + render(rows, run_note) + "\n" + text[e:]
    with open(path, "w") as f:
        f.write(text)


def merge(old: list[Row], new: list[Row], registry: list[tuple[str, str, str]]) -> list[Row]:
    """New results replace old ones of the same (instrumentation, end, Python); rows whose
    range differs from the registry's are dropped; order: registry order, end, Python."""
    declared = {name: versions for name, _dist, versions in registry}
    by_key = {(r.name, r.which, r.python): r for r in old if declared.get(r.name) == r.declared}
    by_key.update({(r.name, r.which, r.python): r for r in new})
    order = {name: i for i, (name, _d, _v) in enumerate(registry)}

    def key(r: Row) -> tuple:
        return (order.get(r.name, 99), r.which != "oldest", tuple(int(p) for p in r.python.split(".")))

    return sorted(by_key.values(), key=key)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", default=[], help="instrumentation name (repeatable)")
    parser.add_argument("--rebuild", action="store_true", help="recreate the virtual environments")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/compatibility.md")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    registry = registry_rows()
    unknown = set(args.only) - {name for name, _d, _v in registry}
    if unknown:
        parser.error("unknown instrumentation(s): " + ", ".join(sorted(unknown)))
    if not os.path.exists(CONSTRAINTS):
        print("note: constraints/test.txt does not exist: the other packages are not pinned", flush=True)
    rows = []
    for name, distribution, declared in registry:
        if args.only and name not in args.only:
            continue
        ends = ends_of_range(distribution, declared)
        print(f"{name}: {distribution} {declared}: oldest {ends['oldest'][0]}, newest {ends['newest'][0]}", flush=True)
        for which, candidates in ends.items():
            skipped_notes = []
            for version in candidates:
                row = measure(name, distribution, declared, which, version, args.rebuild)
                if not row.note.startswith("not installable") or version == candidates[-1]:
                    break
                skipped_notes.append(f"{version} {row.note}")
            row.note = "; ".join(skipped_notes + ([row.note] if row.note else []))
            rows.append(row)
    elapsed = time.perf_counter() - t0
    failed = [r for r in rows if not r.ok]
    print(f"{len(rows) - len(failed)} of {len(rows)} passed in {elapsed:.0f} s", flush=True)
    if not args.no_doc:
        merged = merge(read_doc_rows(), rows, registry)
        note = (
            f"Last run: {datetime.date.today().isoformat()}, Python {sys.version.split()[0]}, "
            f"`python bench/compat.py{' --only ' + ' --only '.join(args.only) if args.only else ''}`, "
            f"{elapsed:.0f} s; constraints/test.txt {'applied' if os.path.exists(CONSTRAINTS) else 'absent'}."
        )
        write_doc(merged, note)
        print(f"wrote {os.path.relpath(DOC)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

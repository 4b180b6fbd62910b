"""``weave-run new-integration``: files, registry row, refusals, and a generated
instrumentation that really patches (a fake vendor SDK, in fresh interpreters).

Every scaffold runs into a temporary copy of the repository layout (``pyproject.toml``,
``instrumentations/registry.py``); nothing is written into this checkout.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import weave_agent
from weave_agent.tools import scaffold
from weave_agent.tools.scaffold import MARKER, ScaffoldError, new_integration

REPO = Path(__file__).resolve().parents[2]
REGISTRY = REPO / "instrumentations" / "registry.py"

FAKE_SDK = {
    "acme_sdk/__init__.py": "",
    "acme_sdk/chat.py": '''
        """A vendor SDK stand-in: OpenAI-shaped answers, streams of chunks, no network."""


        class Client:
            def create(self, model, messages, stream=False, **kwargs):
                if stream:
                    return iter([
                        {"id": "resp-2", "model": model + "-001", "choices": [{"delta": {"content": "Par"}}]},
                        {"id": "resp-2", "choices": [{"delta": {"content": "is."}, "finish_reason": "stop"}]},
                        {"id": "resp-2", "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}},
                    ])
                return {
                    "id": "resp-1",
                    "model": model + "-001",
                    "choices": [{"message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 7, "completion_tokens": 2},
                }
    ''',
}

# Run in a fresh interpreter: the temporary root's instrumentations/ goes first on the
# path of weave_agent.instrumentations (so its registry.py and new folder are the ones
# imported), the fake SDK on sys.path.
PRELUDE = """
import sys
sys.path.insert(0, {vendor!r})
import weave_agent.instrumentations as _pkg
_pkg.__path__.insert(0, {instrumentations!r})
sys.modules.pop("weave_agent.instrumentations.registry", None)
"""


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEAVE_AGENT_", "OTEL_", "PYTHON", "PYTEST_"))}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONIOENCODING="utf-8", **extra)
    return env


def run(args: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A temporary copy of the repository layout the scaffold needs."""
    base = tmp_path / "repo"
    (base / "instrumentations").mkdir(parents=True)
    (base / "pyproject.toml").write_text('[project]\nname = "weave-agent"\n')
    (base / "instrumentations" / "__init__.py").write_text("")
    (base / "instrumentations" / "registry.py").write_text(REGISTRY.read_text())
    return base


@pytest.fixture
def vendor(tmp_path: Path) -> Path:
    folder = tmp_path / "vendor"
    for rel, text in FAKE_SDK.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return folder


def registry_rows(root: Path) -> list[tuple]:
    tree = ast.parse((root / "instrumentations" / "registry.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "INSTRUMENTATIONS":  # type: ignore[attr-defined]
            return list(ast.literal_eval(node.value))
    raise AssertionError("no INSTRUMENTATIONS")


# --- files and row ------------------------------------------------------------------------------


def test_writes_the_files_and_the_row(root: Path) -> None:
    before = registry_rows(root)
    result = new_integration("acme", "acme_sdk.chat", versions=">=1,<2", root=root)

    assert [p.relative_to(root).as_posix() for p in result.files] == [
        "instrumentations/acme/__init__.py",
        "instrumentations/acme/acme.py",
        "instrumentations/acme/extract.py",
        "instrumentations/acme/streaming.py",
        "instrumentations/acme/credentials.py",
        "tests/instrumentations/acme/acme_test.py",
    ]
    assert registry_rows(root) == before + [("acme", ("acme_sdk.chat",), "acme.acme", "acme_sdk", ">=1,<2")]
    text = (root / "instrumentations" / "registry.py").read_text()
    assert text.index('"acme.acme"') < text.index(MARKER)  # above the marker, which stays
    assert text.count(MARKER) == 1

    module = (root / "instrumentations" / "acme" / "acme.py").read_text()
    assert "class ChatExtractor(Extractor):" in (root / "instrumentations" / "acme" / "extract.py").read_text()
    assert 'MODULE = "acme_sdk.chat"' in module and 'TARGETS = ("Client.create",)' in module
    assert (
        "acme_patcher = MultiPatcher(" in module and "SymbolPatcher(lambda: importlib.import_module(MODULE)" in module
    )
    assert "TODO" not in module
    assert "from .acme import acme_patcher" in (root / "instrumentations" / "acme" / "__init__.py").read_text()

    test = (root / "tests" / "instrumentations" / "acme" / "acme_test.py").read_text()
    assert "@pytest.mark.vcr" in test and "def test_quickstart(spans: Any, instrumentation: Any)" in test
    assert 'instrumentation("acme")' in test
    for path in result.files:
        compile(path.read_text(), str(path), "exec")


def _shape(folder: Path, vendor: str) -> set[str]:
    """A vendor folder's file names, its own module named ``VENDOR.py``."""
    return {"VENDOR.py" if p.name == vendor + ".py" else p.name for p in folder.glob("*.py")}


BUILTIN_VENDORS = ("openai", "anthropic", "mistral", "langchain")


def test_writes_the_shape_of_the_builtin_vendor_folders(root: Path) -> None:
    # The files every built-in vendor folder has, under the same names; what is special to
    # one SDK (anthropic/self_tracing.py, langchain/tracer.py) is extra, named for it.
    shapes = {v: _shape(REPO / "instrumentations" / v, v) for v in BUILTIN_VENDORS}
    common = set.intersection(*shapes.values())
    assert common == {"__init__.py", "VENDOR.py", "extract.py", "streaming.py", "credentials.py"}
    new_integration("acme", "acme_sdk.chat", root=root)
    assert _shape(root / "instrumentations" / "acme", "acme") == common
    # and each built-in folder keeps to the shape: what it adds is one of the known extras
    extras = {v: shape - common for v, shape in shapes.items()}
    assert extras == {"openai": set(), "anthropic": {"self_tracing.py"}, "mistral": set(), "langchain": {"tracer.py"}}


def test_defaults_and_symbols(root: Path) -> None:
    # distribution: the installed one providing the module (PyYAML provides yaml); versions: any
    new_integration("yamlish", "yaml.loader", root=root, symbols=["Loader.load", "Other.load"])
    assert registry_rows(root)[-1] == ("yamlish", ("yaml.loader",), "yamlish.yamlish", "PyYAML", None)
    module = (root / "instrumentations" / "yamlish" / "yamlish.py").read_text()
    assert 'TARGETS = ("Loader.load", "Other.load")' in module
    # an unknown top-level module: its own name
    new_integration("zed", "zed_sdk.resources", root=root)
    assert registry_rows(root)[-1][3] == "zed_sdk"


def test_generated_files_pass_ruff(root: Path) -> None:
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed (the dev extra)")
    new_integration("acme", "acme_sdk.chat", root=root)
    for args in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [str(ruff), *args, "--config", str(REPO / "pyproject.toml"), "instrumentations", "tests"],
            cwd=root,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr


# --- the generated instrumentation works ----------------------------------------------------------


def test_generated_patcher_patches_a_fake_sdk(root: Path, vendor: Path) -> None:
    new_integration("acme", "acme_sdk.chat", root=root)
    code = PRELUDE.format(vendor=str(vendor), instrumentations=str(root / "instrumentations")) + textwrap.dedent("""
        import json
        import weave_agent
        from weave_agent.export import telemetry
        from weave_agent.patcher import MultiPatcher
        from weave_agent.testing import SpanRecorder

        rec = SpanRecorder()
        telemetry.use_providers(rec.provider, rec.meter_provider)
        weave_agent.patch(acme=True)           # the registry row: trigger, module, patcher name

        import acme_sdk.chat as sdk            # the trigger's import patches
        import weave_agent.instrumentations.acme as inst
        original = inst.acme_patcher.patchers[0]._original
        patched = sdk.Client.__dict__["create"] is not original
        answer = sdk.Client().create(model="acme-large", messages=[
            {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}],
            temperature=0.5)
        chunks = list(sdk.Client().create(model="acme-large", messages=[{"role": "user", "content": "Again?"}],
                                          stream=True))
        weave_agent.unpatch("acme")
        out = {
            "file": inst.__file__,
            "multipatcher": isinstance(inst.acme_patcher, MultiPatcher),
            "patched": patched,
            "restored": sdk.Client.__dict__["create"] is original,
            "answer": answer["choices"][0]["message"]["content"],
            "chunks": len(chunks),
            "spans": [{"name": s.name, "kind": s.kind.name, "attributes": dict(s.attributes)} for s in rec.finished()],
        }
        sdk.Client().create(model="acme-large", messages=[])
        out["after_unpatch"] = len(rec.finished())
        print(json.dumps(out, default=list))
    """)
    done = subprocess.run([sys.executable, "-c", code], env=clean_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["file"] == str(root / "instrumentations" / "acme" / "__init__.py")
    assert out["multipatcher"] and out["patched"] and out["restored"]
    assert out["answer"] == "Paris." and out["chunks"] == 3  # the SDK's results are untouched
    assert out["after_unpatch"] == 2

    plain, streamed = out["spans"]
    assert plain["name"] == streamed["name"] == "chat acme-large"
    assert plain["kind"] == "CLIENT"
    a = plain["attributes"]
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "acme"
    assert a["gen_ai.request.model"] == "acme-large" and a["gen_ai.request.temperature"] == 0.5
    assert a["gen_ai.response.id"] == "resp-1" and a["gen_ai.response.model"] == "acme-large-001"
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    assert a["gen_ai.usage.input_tokens"] == 7 and a["gen_ai.usage.output_tokens"] == 2
    assert "gen_ai.system_instructions" not in a  # the system message stays in the history, in its place
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Capital of France?"}]},
    ]
    assert json.loads(a["gen_ai.output.messages"])[0]["parts"] == [{"type": "text", "content": "Paris."}]
    s = streamed["attributes"]
    assert s["gen_ai.request.stream"] is True
    assert s["weave_agent.stream.end_reason"] == "exhausted"
    assert s["gen_ai.response.id"] == "resp-2" and s["gen_ai.usage.output_tokens"] == 2
    assert json.loads(s["gen_ai.output.messages"])[0]["parts"] == [{"type": "text", "content": "Paris."}]


def test_generated_test_passes_against_the_fake_sdk(root: Path, vendor: Path) -> None:
    """The generated test module runs under pytest with the plugin (no cassette needed: the
    fake SDK makes no HTTP request), and its quickstart test passes."""
    new_integration("acme", "acme_sdk.chat", root=root)
    (root / "conftest.py").write_text(
        PRELUDE.format(vendor=str(vendor), instrumentations=str(root / "instrumentations"))
        + 'pytest_plugins = ["weave_agent.testing"]\n'
    )
    (root / "pytest.ini").write_text("[pytest]\npython_files = *_test.py\n")
    done = run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/instrumentations/acme"], cwd=root, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


# --- refusals -----------------------------------------------------------------------------------


def cli(root: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run(["-m", "weave_agent", "new-integration", *args], cwd=cwd or root)


@pytest.mark.parametrize("name", ["1acme", "acme-sdk", "class", "acme.sdk", "_acme", "Acme"])
def test_refuses_a_bad_name(root: Path, name: str) -> None:
    before = (root / "instrumentations" / "registry.py").read_text()
    done = cli(root, name, "--module", "acme_sdk")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "weave-run new-integration: error: name %r" % name in done.stderr
    assert (root / "instrumentations" / "registry.py").read_text() == before
    assert sorted(p.name for p in (root / "instrumentations").iterdir()) == ["__init__.py", "registry.py"]


def test_refuses_an_existing_folder(root: Path) -> None:
    (root / "instrumentations" / "acme").mkdir()
    before = (root / "instrumentations" / "registry.py").read_text()
    done = cli(root, "acme", "--module", "acme_sdk")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "instrumentations/acme already exists" in done.stderr
    assert (root / "instrumentations" / "registry.py").read_text() == before
    assert not (root / "tests").exists()
    # a second scaffold of a name is refused the same way
    (root / "instrumentations" / "acme").rmdir()
    assert cli(root, "acme", "--module", "acme_sdk").returncode == 0
    assert cli(root, "acme", "--module", "acme_sdk").returncode == 2


def test_refuses_a_name_the_registry_has(root: Path) -> None:
    with pytest.raises(ScaffoldError, match="already has a row named 'openai'"):
        new_integration("openai", "openai_v9", root=root)
    with pytest.raises(ScaffoldError, match="registry already exists"):  # would shadow registry.py
        new_integration("registry", "acme_sdk", root=root)


def test_refuses_a_missing_marker(root: Path) -> None:
    registry = root / "instrumentations" / "registry.py"
    registry.write_text(registry.read_text().replace(MARKER, "# rows end here"))
    before = registry.read_text()
    done = cli(root, "acme", "--module", "acme_sdk")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "no marker line %r" % MARKER in done.stderr
    assert registry.read_text() == before
    assert not (root / "instrumentations" / "acme").exists() and not (root / "tests").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--module", "acme sdk"], "is not an importable dotted name"),
        (["--module", "acme_sdk", "--versions", "one"], "is not a PEP 440 specifier"),
        (["--module", "acme_sdk", "--symbol", "create"], "is not a dotted path from the module"),
        (["--module", "acme_sdk", "--distribution", "acme sdk"], "is not a distribution name"),
    ],
)
def test_refuses_bad_options(root: Path, args: list[str], message: str) -> None:
    done = cli(root, "acme", *args)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr
    assert not (root / "instrumentations" / "acme").exists()


# --- the root -----------------------------------------------------------------------------------


def test_root_is_the_checkout_at_or_above_the_current_directory(root: Path) -> None:
    sub = root / "instrumentations"
    assert scaffold.find_root(sub) == root.resolve()
    done = cli(root, "acme", "--module", "acme_sdk", cwd=sub)
    assert done.returncode == 0, done.stderr
    assert "created instrumentations/acme/acme.py" in done.stdout
    assert (root / "instrumentations" / "acme" / "acme.py").is_file()


def test_root_falls_back_to_the_editable_install(tmp_path: Path) -> None:
    editable = scaffold.editable_root()
    if editable is None:
        with pytest.raises(ScaffoldError, match="pass --root DIR"):
            scaffold.find_root(tmp_path)
    else:
        assert editable == Path(weave_agent.__file__).resolve().parents[1]
        assert scaffold.find_root(tmp_path) == editable


def test_cli_help_lists_the_subcommand() -> None:
    done = run(["-m", "weave_agent", "--help"], cwd=REPO)
    assert done.returncode == 0 and "new-integration NAME --module IMPORT_NAME" in done.stdout
    done = run(["-m", "weave_agent", "new-integration", "--help"], cwd=REPO)
    assert done.returncode == 0 and "--distribution DIST" in done.stdout and "--root DIR" in done.stdout

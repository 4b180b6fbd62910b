"""The README's start without the launcher ("Starting the agent", ``PYTHONPATH``): the
shell part of its Dockerfile ``RUN`` line, run as written in this environment, gives the
path its ``ENV PYTHONPATH`` and its Kubernetes manifest use, and with that path alone
an app is traced. No path in the recipe names a Python version."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from _launch import BIN, Launch

README = Path(__file__).resolve().parents[2] / "README.md"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Starting the agent")
    return text[start : text.index("\n## ", start + 1)]


def _block(section: str, lang: str) -> str:
    m = re.search(r"```%s\n(.*?)```" % lang, section, re.S)
    assert m, "no %s block in 'Starting the agent'" % lang
    return m.group(1)


def test_the_dockerfile_recipe_works_for_this_python(launch: Launch) -> None:
    section = _section()
    docker, manifest = _block(section, "dockerfile"), _block(section, "yaml")
    assert not re.search(r"python3\.\d+", docker + manifest), "a path names a Python version"
    run = re.search(r"^RUN pip install weave-agent && (.+)$", docker, re.M)
    env = re.search(r"^ENV PYTHONPATH=(\S+)$", docker, re.M)
    assert run and env, docker
    link = env.group(1)
    assert re.search(r"- name: PYTHONPATH\n\s+value: %s\n" % re.escape(link), manifest), manifest
    command = run.group(1)
    assert link in command, command

    # The RUN line's shell part as written, with the image's path moved into this test's folder.
    here = launch.root / link.lstrip("/")
    here.parent.mkdir(parents=True)
    subprocess.run(["sh", "-c", command.replace(link, str(here))], env=launch.env(PYTHONPATH=None), check=True)
    assert here.is_symlink()

    launch.write(
        "app.py",
        """
        from weave_agent import lifecycle, op

        @op
        def answer(question):
            return "42"

        print(lifecycle.started(), answer("?"))
        """,
    )
    python = str(Path(BIN) / Path(sys.executable).name)
    r = launch.run(python, "app.py", env=launch.env(PYTHONPATH=str(here), OTEL_SERVICE_NAME="chat-api")).check()
    assert r.stdout == "True 42\n"
    spans = launch.spans("answer")
    assert len(spans) == 1 and spans[0].resource["service.name"] == "chat-api"

"""Run the GenAI conventions' own JSON schemas over the spans a test run recorded, and compare
with the project's validator (``weave_agent.tools.conventions_check``).

Dev-only: it needs ``jsonschema`` (``pip install jsonschema``), which the project does not
depend on. The spans come from the pytest plugin's dump:

    python -m pytest -q -m "not e2e and not soak" --spans-dump /tmp/spans.jsonl
    python bench/semconv_schemas.py --schemas ../shared/semconv-genai /tmp/spans.jsonl

``--schemas`` is a folder holding the conventions' four schema files
(``gen-ai-input-messages.json``, ``gen-ai-output-messages.json``,
``gen-ai-system-instructions.json``, ``gen-ai-tool-definitions.json``), copied from
``open-telemetry/semantic-conventions-genai`` at the commit the validator names.

Each content attribute is checked three ways:

* **schema**: the whole document against the schema, as published. Every part list is an
  ``anyOf`` ending in ``GenericPart`` (any object with a string ``type``), so this reading
  accepts a ``blob`` without its bytes: it is the floor.
* **schema, discriminated**: the same, and each part (each tool definition) whose ``type``
  names one of the schema's definitions (``const``) validated against that definition
  alone, as the newest conventions read the union; a part of another ``type`` must be a
  ``generic`` part.
* **validator**: ``conventions_check.check_content``.

The validator should accept nothing the discriminated reading rejects; where it is
stricter (``blob`` parts allow no undefined fields, a ``uri`` is no ``data:`` URL, a
``generic`` part's ``generic_type`` is a string), the table lists it. Exit status 1 when the
validator accepts a document a schema reading rejects.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

try:
    import jsonschema
except ImportError:  # pragma: no cover - a dev tool
    sys.exit("bench/semconv_schemas.py needs jsonschema: pip install jsonschema (dev only, not a project dependency)")

from weave_agent.tools import conventions_check

FILES = {
    "gen_ai.input.messages": "gen-ai-input-messages.json",
    "gen_ai.output.messages": "gen-ai-output-messages.json",
    "gen_ai.system_instructions": "gen-ai-system-instructions.json",
    "gen_ai.tool.definitions": "gen-ai-tool-definitions.json",
}


class Schema:
    """One attribute's schema, with its definitions by the ``type`` constant they require."""

    def __init__(self, path: Path) -> None:
        self.doc = json.loads(path.read_text(encoding="utf-8"))
        self.whole = jsonschema.Draft202012Validator(self.doc)
        self.by_type: dict[str, jsonschema.Draft202012Validator] = {}
        for name, definition in self.doc.get("$defs", {}).items():
            const = definition.get("properties", {}).get("type", {}).get("const")
            if isinstance(const, str):
                wrapped = {"$defs": self.doc["$defs"], "$ref": "#/$defs/" + name}
                self.by_type[const] = jsonschema.Draft202012Validator(wrapped)

    def plain(self, doc: Any) -> str | None:
        error = jsonschema.exceptions.best_match(self.whole.iter_errors(doc))
        return None if error is None else "%s: %s" % (error.json_path, error.message[:160])

    def discriminated(self, attribute: str, doc: Any) -> str | None:
        found = self.plain(doc)
        if found is not None or not isinstance(doc, list):
            return found
        for path, item in _items(attribute, doc):
            if not isinstance(item, dict):
                continue
            kind = item.get("type")
            validator = self.by_type.get(kind) if isinstance(kind, str) else None
            if validator is not None:
                error = jsonschema.exceptions.best_match(validator.iter_errors(item))
                if error is not None:
                    return "%s%s: %s" % (path, error.json_path[1:], error.message[:160])
            elif attribute != "gen_ai.tool.definitions" and kind != "generic":
                return "%s.type: %r is no part type of the schema and not 'generic'" % (path, kind)
        return None


def _items(attribute: str, doc: list[Any]) -> list[tuple[str, Any]]:
    """The parts (or tool definitions) of ``doc`` with their JSON paths."""
    if attribute in ("gen_ai.system_instructions", "gen_ai.tool.definitions"):
        return [("$[%d]" % i, item) for i, item in enumerate(doc)]
    out = []
    for i, message in enumerate(doc):
        parts = message.get("parts") if isinstance(message, dict) else None
        for j, part in enumerate(parts if isinstance(parts, list) else ()):
            out.append(("$[%d].parts[%d]" % (i, j), part))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dump", type=Path, help="JSON lines written by pytest --spans-dump")
    parser.add_argument("--schemas", type=Path, required=True, help="folder with the conventions' four schemas")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--show", type=int, default=5, help="disagreements to print per kind (default 5)")
    args = parser.parse_args(argv)

    schemas = {attr: Schema(args.schemas / name) for attr, name in FILES.items()}
    spans = 0
    with_content = 0
    counts: Counter[str] = Counter()
    shown: dict[str, list[str]] = {}
    for line in args.dump.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        spans += 1
        attributes = record.get("attributes") or {}
        present = [a for a in FILES if a in attributes]
        if present:
            with_content += 1
        for attribute in present:
            raw = attributes[attribute]
            try:
                doc = json.loads(raw) if isinstance(raw, str) else raw
            except ValueError:
                doc = raw
            counts["attributes"] += 1
            schema = schemas[attribute]
            plain = schema.plain(doc)
            strict = schema.discriminated(attribute, doc)
            ours = conventions_check.check_content(attribute, doc)
            counts["schema ok"] += plain is None
            counts["schema, discriminated ok"] += strict is None
            counts["validator ok"] += ours is None
            where = "%s | %s | %s" % (record.get("test"), record.get("name"), attribute)
            if ours is None and strict is not None:
                counts["validator accepts, schema rejects"] += 1
                shown.setdefault("validator accepts, schema rejects", []).append("%s: %s" % (where, strict))
            if ours is not None and strict is None:
                counts["validator stricter"] += 1
                shown.setdefault("validator stricter", []).append("%s: %s%s" % (where, ours.path, " " + ours.message))

    figures = {"spans": spans, "spans with content": with_content, **counts}
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print("%-*s  %d" % (width, key, value))
    for kind, lines in shown.items():
        print("\n%s (%d, first %d):" % (kind, len(lines), min(len(lines), args.show)))
        for text in lines[: args.show]:
            print("  " + text)
    if args.json:
        args.json.write_text(json.dumps({"figures": figures, "disagreements": shown}, indent=2), encoding="utf-8")
    return 1 if counts["validator accepts, schema rejects"] else 0


if __name__ == "__main__":
    sys.exit(main())

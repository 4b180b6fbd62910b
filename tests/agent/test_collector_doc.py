"""docs/collector.md: every Collector configuration in it parses, and its pipelines use
only components it defines (issue 8)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

DOC = Path(__file__).resolve().parents[2] / "docs" / "collector.md"
KINDS = ("receivers", "processors", "exporters")


def _configs() -> list[dict]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    docs = [yaml.safe_load(b) for b in blocks]  # every block parses
    return [d for d in docs if isinstance(d, dict) and "service" in d]


def test_collector_configurations_are_consistent() -> None:
    configs = _configs()
    assert len(configs) == 2  # the gateway (all backends) and the per-host Collector
    for config in configs:
        pipelines = config["service"]["pipelines"]
        assert "traces" in pipelines
        used: dict[str, set[str]] = {k: set() for k in KINDS}
        for name, pipeline in pipelines.items():
            assert name.split("/")[0] in ("traces", "metrics", "logs"), name
            assert pipeline["receivers"] and pipeline["exporters"], name
            for kind in KINDS:
                for component in pipeline.get(kind, []):
                    assert component in (config.get(kind) or {}), "%s %s of pipeline %s is not defined" % (kind, component, name)
                    used[kind].add(component)
            processors = pipeline.get("processors", [])
            assert processors[0] == "memory_limiter" and processors[-1] == "batch", name
        for kind in KINDS:  # and nothing is defined that no pipeline uses
            assert set(config.get(kind) or {}) == used[kind], kind


def test_gateway_configuration_backends() -> None:
    gateway = _configs()[0]
    receivers, exporters = gateway["receivers"], gateway["exporters"]
    assert set(receivers["otlp"]["protocols"]) == {"grpc", "http"}
    assert receivers["otlpjsonfile"]["include"] == ["./weave-traces/*.jsonl"]
    assert exporters["otlphttp/phoenix"]["endpoint"].startswith("http")
    assert exporters["otlp/jaeger"]["endpoint"].endswith(":4317")
    assert exporters["otlp/tempo"]["endpoint"].endswith(":4317")
    weave = exporters["otlphttp/weave"]
    assert weave["traces_endpoint"] == "https://trace.wandb.ai/otel/v1/traces"
    assert weave["headers"] == {"wandb-api-key": "${env:WANDB_API_KEY}"}  # from the environment, never inline
    keys = {a["key"] for a in gateway["processors"]["resource/weave"]["attributes"]}
    assert keys == {"wandb.entity", "wandb.project"}
    weave_pipeline = gateway["service"]["pipelines"]["traces/weave"]
    assert weave_pipeline["exporters"] == ["otlphttp/weave"] and "resource/weave" in weave_pipeline["processors"]

"""DSPy (``dspy`` >= 3.4, < 4): the program's steps as a tree, one ``chat`` span per LM call.

Patched, sync and async, on DSPy's base classes and its one LM execution path, in the
modules that define them (each a registry trigger, patched when it is imported):

* ``dspy.primitives.module``: ``Module.__call__``/``acall``, every module and predictor
  (``Predict.__call__`` calls it through ``super()``): INTERNAL spans named for the class,
  ``invoke_agent ReAct`` for a ReAct agent (``steps.py``);
* ``dspy.adapters.base``: ``Adapter.__call__``/``acall`` (``ChatAdapter`` and the others
  reach it through ``super()``): INTERNAL spans named for the adapter;
* ``dspy.adapters.types.tool``: ``Tool.__call__``/``acall``: ``execute_tool {name}``;
* ``dspy.utils.parallelizer``: ``ParallelExecutor._execute_parallel`` (``Module.batch``,
  ``dspy.Parallel``, ``Evaluate``) runs each item in the caller's context (``parallel.py``);
* ``dspy.clients.execution``: ``execute``/``aexecute(lm, call)``, which ``BaseLM.__call__``
  and ``acall`` import at each call: one ``chat {model}`` CLIENT span per LM call
  (``extract.LMExtractor``), with DSPy's usage (``CallResult.usage``; the LM's history
  holds the same dict), for every engine and for custom ``BaseLM`` subclasses alike. DSPy's
  retries stay inside it; a cache hit is marked ``dspy.lm.cache_hit`` and carries no usage.

**Why methods, not DSPy's callbacks.** The active callbacks are ``dspy.settings.callbacks``
plus the instance's, and an app's ``dspy.configure(callbacks=[...])`` replaces that list: a
handler the agent registered there would silently drop out. Wrapping the methods is
independent of it, and the app's callbacks keep running as they did (they see every call,
inside our spans).

**One model call, one LLM span.** DSPy 3.4 reaches OpenAI, Anthropic, Gemini and xAI with a
vendored client (lm15) over raw sockets, which no SDK instrumentation sees: the DSPy span is
the only record of the call. With ``engine="litellm"`` (or client settings the native engine
does not carry, or ``OPENAI_API_BASE``/``OPENAI_BASE_URL`` set) DSPy calls
``litellm.completion``, which the LiteLLM instrumentation also traces. The DSPy span owns the
model call (``owns_model_call``, ``weave_agent.tracing.calls.MODEL_CALL_OWNED``): LiteLLM's
span, and any SDK span under it, step aside. So each model call is one ``chat`` span with
usage, whichever engine ran it, and the tree is the same.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from weave_agent.genai import GenAISpec
from weave_agent.patcher import ModulePatcher, MultiPatcher, Patcher, SymbolPatcher
from weave_agent.tracing.calls import Call, OpSpec, wrap_with_spec

from .extract import LMExtractor, cached_attributes
from .parallel import wrap_execute_parallel
from .steps import AdapterSpec, ModuleSpec, ToolSpec

MODULE_MODULE = "dspy.primitives.module"
ADAPTER_MODULE = "dspy.adapters.base"
TOOL_MODULE = "dspy.adapters.types.tool"
EXECUTION_MODULE = "dspy.clients.execution"
PARALLEL_MODULE = "dspy.utils.parallelizer"


class LMSpec(GenAISpec):
    """A DSPy LM call: it owns its model call (LiteLLM's and SDK spans inside step aside).

    A result DSPy served from its cache made no model call: the span says so
    (``dspy.lm.cache_hit``) and records its response, but no GenAI metric (no duration of a
    client operation, no tokens)."""

    owns_model_call = True

    def on_end(self, call: Call, output: Any) -> None:
        if getattr(output, "cache_hit", False) is True:
            call.span.set_attributes(cached_attributes(self.extractor.response(output, self._capture())))
            return
        super().on_end(call, output)


def _traced(spec: OpSpec) -> Any:
    def make(original: Any) -> Any:
        return wrap_with_spec(original, spec)

    return make


def _methods(cls: str, spec: OpSpec) -> Any:
    def make(module: ModuleType) -> list[Patcher]:
        return [SymbolPatcher(lambda: module, "%s.%s" % (cls, name), _traced(spec)) for name in ("__call__", "acall")]

    return make


def _methods_missing(cls: str) -> Any:
    def missing(module: ModuleType) -> list[str]:
        klass = getattr(module, cls, None)
        return [
            "%s.%s" % (cls, name) for name in ("__call__", "acall") if klass is None or name not in vars(klass)
        ]

    return missing


def _execution(module: ModuleType) -> list[Patcher]:
    spec = LMSpec(LMExtractor())
    return [SymbolPatcher(lambda: module, name, _traced(spec)) for name in ("execute", "aexecute")]


def _execution_missing(module: ModuleType) -> list[str]:
    return [name for name in ("execute", "aexecute") if not callable(getattr(module, name, None))]


def _parallel(module: ModuleType) -> list[Patcher]:
    return [SymbolPatcher(lambda: module, "ParallelExecutor._execute_parallel", wrap_execute_parallel)]


def _parallel_missing(module: ModuleType) -> list[str]:
    executor = getattr(module, "ParallelExecutor", None)
    return [] if executor is not None and "_execute_parallel" in vars(executor) else ["ParallelExecutor._execute_parallel"]


dspy_patcher = MultiPatcher(
    [
        ModulePatcher(MODULE_MODULE, _methods("Module", ModuleSpec()), _methods_missing("Module")),
        ModulePatcher(ADAPTER_MODULE, _methods("Adapter", AdapterSpec()), _methods_missing("Adapter")),
        ModulePatcher(TOOL_MODULE, _methods("Tool", ToolSpec()), _methods_missing("Tool")),
        ModulePatcher(EXECUTION_MODULE, _execution, _execution_missing),
        ModulePatcher(PARALLEL_MODULE, _parallel, _parallel_missing),
    ]
)

__all__ = ["dspy_patcher"]

"""Which module's import arms which instrumentation: the one table, kept as plain data.

Read at bootstrap, so it imports nothing. One row per instrumentation:

    (name, trigger modules, instrumentation module, distribution, supported versions)

* trigger modules: full dotted names of the modules that *define* what is patched; the
  instrumentation is armed when any of them has been imported, whichever import path the
  user took.
* instrumentation module: relative to ``weave_agent.instrumentations``; it exports
  ``<name>_patcher``.
* distribution / supported versions: the PyPI distribution whose installed version must
  satisfy the specifier, or the instrumentation declines with one debug line. Each range
  is one the compatibility matrix (``python bench/compat.py``) has passed at both ends;
  docs/compatibility.md has the results and why each range starts where it does.

``weave-run new-integration`` adds rows above the marker line; keep it.
"""

INSTRUMENTATIONS = (
    # openai >= 1.92: chat.completions.parse/stream out of beta; every patched class is
    # defined in these modules (they load lazily, on first client.chat etc.).
    (
        "openai",
        (
            "openai.resources.chat.completions.completions",
            "openai.resources.responses.responses",
            "openai.resources.embeddings",
            "openai.resources.completions",
        ),
        "openai.openai",
        "openai",
        ">=1.92,<4",
    ),
    # mistralai >= 2: the clients live in the namespace package mistralai (mistralai.client,
    # .azure.client, .gcp.client) and load chat/fim/embeddings lazily (on first client.chat
    # etc.): trigger on those defining modules; each is patched when it is imported.
    # Before 2.4.8 the SDK's own tracer follows the global TracerProvider: handled (matrix).
    (
        "mistral",
        (
            "mistralai.client.chat",
            "mistralai.client.fim",
            "mistralai.client.embeddings",
            "mistralai.azure.client.chat",
            "mistralai.gcp.client.chat",
            "mistralai.gcp.client.fim",
        ),
        "mistral.mistral",
        "mistralai",
        ">=2,<4",
    ),
    # anthropic 2.x: Messages/AsyncMessages (first-party and beta) with create, stream and
    # parse; the SDK's own OpenTelemetry tracing (2.x) is handled by the instrumentation.
    (
        "anthropic",
        ("anthropic.resources.messages.messages", "anthropic.resources.beta.messages.messages"),
        "anthropic.anthropic",
        "anthropic",
        ">=2,<3",
    ),
    # langchain-core >= 1.7: older lines fail the matrix (0.3: async runs nest the SDK span at
    # the wrong depth; 0.3 and 1.0: tool spans lack gen_ai.tool.call.id), so they decline.
    # A WeaveAgentTracer callback handler added to every callback manager
    # through LangChain's register_configure_hook (the list _configure reads, defined in
    # langchain_core.tracers.context and read by _configure in callbacks.manager).
    (
        "langchain",
        ("langchain_core.callbacks.manager",),
        "langchain.langchain",
        "langchain-core",
        ">=1.7,<2",
    ),
    # groq >= 0.13: before it the SDK passes `proxies` to httpx.Client, which httpx 0.28
    # removed (no client can be built with today's httpx). chat.completions and embeddings,
    # each defined in its own lazily loaded resource module, sync and async; streams carry
    # x_groq.usage on their last chunk.
    (
        "groq",
        ("groq.resources.chat.completions", "groq.resources.embeddings"),
        "groq.groq",
        "groq",
        ">=0.13,<2",
    ),
    # ollama >= 0.4 (typed responses): Client/AsyncClient chat, generate, embed, embeddings,
    # defined in ollama._client (the submodule; the attribute ollama._client is the default
    # client). Patched when it has executed, before ollama/__init__ binds ollama.chat & co.
    (
        "ollama",
        ("ollama._client",),
        "ollama.ollama",
        "ollama",
        ">=0.4,<1",
    ),
    # botocore >= 1.32 (bedrock-runtime's InvokeModel and its stream; Converse and
    # ConverseStream from 1.34.116 on): every AWS call goes through BaseClient._make_api_call
    # in botocore.client (imported by import boto3); the patch acts for those four operations.
    (
        "bedrock",
        ("botocore.client",),
        "bedrock.bedrock",
        "botocore",
        ">=1.32,<2",
    ),
    # cohere >= 5.12: 5.11.x requires sagemaker and boto3 and did not resolve against the test
    # environment in the matrix (untestable, so not admitted); 5.12 has ClientV2 with chat,
    # chat_stream, embed, rerank. v2 methods in cohere.v2.client, v1 chat, chat_stream, embed,
    # rerank in cohere.base_client, and Client.embed's thread pool (cohere.client).
    # cohere/__init__ is lazy: the defining modules are the triggers.
    (
        "cohere",
        ("cohere.v2.client", "cohere.base_client", "cohere.client"),
        "cohere.cohere",
        "cohere",
        ">=5.12,<8",
    ),
    # google-genai >= 2.0 (measured by the matrix: 2.0.0 and 3.6.1; the private per-request
    # methods Models._generate_content[_stream] are patched): generate_content, its stream and
    # embed_content, sync and async, chats, automatic function calling. google is a
    # namespace package: trigger on the defining module.
    (
        "google_genai",
        ("google.genai.models",),
        "google_genai.google_genai",
        "google-genai",
        ">=2.0,<4",
    ),
    # litellm >= 1.104 (the first release with all three dispatch modules; before it
    # completion and embedding lived in litellm.main): completion/acompletion,
    # embedding/aembedding and responses/aresponses are defined in dispatch modules
    # (star-imported by litellm/__init__), text_completion in litellm.main; each is patched
    # in its defining module. Router calls go through them.
    (
        "litellm",
        (
            "litellm.chat_completions.dispatch",
            "litellm.embeddings.dispatch",
            "litellm.responses.dispatch",
            "litellm.main",
        ),
        "litellm.litellm",
        "litellm",
        ">=1.104,<2",
    ),
    # openai-agents: the SDK's span objects (SpanImpl/NoOpSpan in agents.tracing.spans, the
    # steps of a run whether its own tracing is on or off) and AgentRunner.run/run_streamed
    # (agents.run); each module patched when it is imported. Model calls: the openai row.
    # >= 0.20: the matrix's oldest passing release (0.14 fails with today's openai 2.x).
    (
        "openai_agents",
        ("agents.tracing.spans", "agents.run"),
        "openai_agents.openai_agents",
        "openai-agents",
        ">=0.20,<1",
    ),
    # mcp >= 2.3 (measured by the matrix: over streamable HTTP, 2.0.0 and 2.2.0 send tools/list
    # requests that reach the server without passing ClientSession.send_request, so without a
    # client span or context; the 2.x dispatcher architecture: ClientSession on a Dispatcher, the
    # SDK's own OpenTelemetry spans in mcp.shared.jsonrpc_dispatcher and mcp.server._otel).
    # Client requests are the agent's CLIENT spans, the SDK's SERVER spans are kept and enriched;
    # each module patched when it is imported.
    (
        "mcp",
        (
            "mcp.client.session",
            "mcp.shared.jsonrpc_dispatcher",
            "mcp.server._otel",
            "mcp.client.streamable_http",
            "mcp.client.stdio",
            "mcp.server.stdio",
        ),
        "mcp.mcp",
        "mcp",
        ">=2.3,<3",
    ),
    # pydantic_ai: Pydantic AI's own spans (invoke_agent, chat, execute_tool) turned on for
    # agents whose instrumentation the app did not choose, sent to the agent's pipeline;
    # its chat span owns the model call (the SDK span underneath steps aside). Agent in
    # pydantic_ai.agent, open_model_request_span rebound where it is imported. Range:
    # docs/compatibility.md.
    (
        "pydantic_ai",
        (
            "pydantic_ai.agent",
            "pydantic_ai.capabilities.instrumentation",
            "pydantic_ai.models.instrumented",
        ),
        "pydantic_ai.pydantic_ai",
        "pydantic-ai-slim",
        ">=2.40,<3",
    ),
    # crewai: Crew.kickoff/akickoff, Agent.execute_task/aexecute_task/kickoff/kickoff_async/akickoff, the
    # tools' run/arun/invoke/ainvoke and Telemetry._safe_telemetry_operation, each patched in
    # its defining module. Model calls: the SDK's row (openai). >= 1.15.15: before it CrewAI's
    # telemetry installs its provider as the global one and traces through it (its spans would be
    # the app's, or the app's go to CrewAI's collector). Range: see docs/compatibility.md.
    (
        "crewai",
        (
            "crewai.crew",
            "crewai.agent.core",
            "crewai.tools.base_tool",
            "crewai.tools.structured_tool",
            "crewai.telemetry.telemetry",
        ),
        "crewai.crewai",
        "crewai",
        ">=1.15.15,<2",
    ),
    # llama-index-core: a span and an event handler on the root instrumentation dispatcher
    # (llama_index.core.instrumentation, from llama-index-instrumentation); range measured by
    # the matrix (0.13.0 fails: the llama-index-llms-openai pip pairs with it imports
    # ThinkingBlock, added in 0.14.x), see docs/compatibility.md.
    (
        "llamaindex",
        ("llama_index.core.instrumentation",),
        "llamaindex.llamaindex",
        "llama-index-core",
        ">=0.14.4,<0.15",
    ),
    # dspy: Module/Adapter/Tool __call__ and acall on DSPy's base classes, the one LM
    # execution path (dspy.clients.execution.execute/aexecute, imported at the first LM
    # call) and ParallelExecutor's worker threads; each module patched when it is imported.
    # The LM span owns its model call (LiteLLM's span steps aside under engine="litellm").
    # Range: docs/compatibility.md.
    (
        "dspy",
        (
            "dspy.primitives.module",
            "dspy.adapters.base",
            "dspy.adapters.types.tool",
            "dspy.clients.execution",
            "dspy.utils.parallelizer",
        ),
        "dspy.dspy",
        "dspy",
        ">=3.4,<4",
    ),
    # new-integration: rows above this line
)

# The vendor releases the recorded tests run against (pinned in constraints/test.txt, which
# a test holds equal to this): the one source for `weave-run list` and the README's table.
TESTED_VERSIONS = {
    "openai": "3.63.0",
    "anthropic": "2.17.0",
    "mistralai": "3.7.0",
    "langchain-core": "1.8.3",
    "google-genai": "3.6.1",
    "botocore": "1.44.18",
    "litellm": "1.110.2",
    "groq": "1.7.0",
    "ollama": "0.6.3",
    "cohere": "7.3.1",
    "mcp": "2.3.0",
    "openai-agents": "0.24.0",
    "pydantic-ai-slim": "2.78.0",
    "dspy": "3.4.1",
    "llama-index-core": "0.14.25",
    "crewai": "1.15.30",
}

# Where a tested release does not install on an older Python, the release tested there
# instead (langchain-core 1.8 and google-genai 3 require Python >= 3.11; constraints/lock.py pins
# these).
TESTED_VERSIONS_BY_PYTHON = {
    # None: no release of the distribution installs on that Python; its tests are not run there.
    "3.10": {"langchain-core": "1.7.7", "google-genai": "2.33.0", "pydantic-ai-slim": None},
}

# Instrumentations whose library cannot share the main test environment (its requirements
# conflict with another SDK's: openai<3, mcp<2): each is tested in an environment of its
# own, pyproject extra ``test-<name>`` pinned by ``constraints/test-<name>.txt``, run by
# tests/instrumentations/test_own_environments.py from the main suite.
OWN_TEST_ENVIRONMENTS = ("llamaindex", "crewai")

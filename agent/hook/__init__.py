"""Stage 1, the import hook and patching: *when* and *where* a vendor is patched.

``importhook`` (the ``sys.meta_path`` finder and ``when_imported``), ``registry`` (what
an instrumentation is, the built-in table, entry points), ``arming`` (which ones are
armed, on which import), ``patcher`` (how a symbol is wrapped and unwrapped). The
bootstrap imports this package in every process: it stays empty, and its modules import
only builtins and the agent's own small modules until a vendor is imported.
"""

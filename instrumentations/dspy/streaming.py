"""DSPy: whether an LM call streams.

DSPy streams through ``dspy.streamify(program)``: the program runs with
``settings.send_stream`` set, and the LM call pushes each chunk to that stream itself
before it returns its whole result. So an LM call's span ends when the call returns, as
for any call, and nothing is proxied or accumulated here: the stream is only a request
attribute (``gen_ai.request.stream``). A predictor the app's stream listeners do not name
runs with ``send_stream`` cleared (``Predict.forward``): its call does not stream. Imports
nothing else of this folder.
"""

from __future__ import annotations

import sys


def streams() -> bool:
    """Whether the LM call being made now sends its chunks to a ``streamify`` stream."""
    module = sys.modules.get("dspy.dsp.utils.settings")
    settings = getattr(module, "settings", None) if module is not None else None
    if settings is None:
        return False
    try:
        return settings.send_stream is not None
    except Exception:
        return False

"""Pydantic AI: no streams for the agent to accumulate.

``run_stream`` and streamed model requests are recorded by Pydantic AI's own ``chat`` span,
which stays open around the model's stream and ends with what the stream produced (its
``finish`` reads ``StreamedResponse.get()``); the OpenAI SDK stream underneath runs
untraced (``model_call.py``). The file is here because every vendor folder has the same
files; it holds nothing.
"""

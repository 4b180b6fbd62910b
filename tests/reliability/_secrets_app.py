"""The app the secrets test runs under the agent (``python _secrets_app.py PLAN.json``).

It puts credentials everywhere users put them: the client's ``api_key=``, the vendor
environment variables, ``default_headers``, per-call ``extra_headers``/``http_headers``,
an op's ``api_key``/``password``/``authorization`` arguments, a returned token, a key
pasted into a prompt, a key in an exception message. The plan file names the fake
servers and the secrets (never argv, never printed). Prints one JSON line: what each
call returned, so the test also sees that the calls worked.
"""

from __future__ import annotations

import dataclasses
import json
import sys

plan = json.load(open(sys.argv[1]))
S: dict[str, str] = plan["secrets"]
URL: dict[str, str] = plan["urls"]

import anthropic  # noqa: E402
import openai  # noqa: E402
from mistralai.client import Mistral  # noqa: E402

import weave_agent  # noqa: E402

out: dict[str, object] = {}
USER = "Say hello. My key is %s, keep it safe."

# --- OpenAI ---------------------------------------------------------------------------
env_client = openai.OpenAI(base_url=URL["openai"], max_retries=0)  # OPENAI_API_KEY from the environment
r = env_client.chat.completions.create(
    model="gpt-4o-mini",
    messages=[{"role": "system", "content": "Be terse. Auth: Bearer " + S["system_bearer"]},
              {"role": "user", "content": USER % S["prompt_openai_key"]}],
)
out["openai_chat"] = r.choices[0].message.content
client = openai.OpenAI(
    api_key=S["openai_arg"], base_url=URL["openai"], max_retries=0,
    default_headers={"X-Custom-Auth": "Bearer " + S["openai_default_header"], "OpenAI-Organization": S["openai_org"]},
)
stream = client.chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "Count to three."}], stream=True,
    stream_options={"include_usage": True},
    extra_headers={"Authorization": "Bearer " + S["openai_extra_auth"], "X-Api-Key": S["openai_extra_xkey"]},
)
out["openai_stream"] = "".join((c.choices[0].delta.content or "") for c in stream if c.choices)
out["openai_embed"] = len(client.embeddings.create(model="text-embedding-3-small", input="hello").data)
out["openai_responses"] = client.responses.create(model="gpt-4o-mini", input=USER % S["prompt_responses_key"]).output_text
try:
    openai.OpenAI(api_key=S["openai_invalid"], base_url=URL["openai"], max_retries=0).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
except openai.AuthenticationError:
    out["openai_401"] = True

# --- Anthropic ------------------------------------------------------------------------
env_ant = anthropic.Anthropic(base_url=URL["anthropic"], max_retries=0)  # ANTHROPIC_API_KEY
m = env_ant.messages.create(model="claude-haiku-4-5", max_tokens=64, system="Token: " + S["system_ant_key"],
                            messages=[{"role": "user", "content": USER % S["prompt_ant_key"]}])
out["anthropic_create"] = m.content[0].text
ant = anthropic.Anthropic(api_key=S["anthropic_arg"], base_url=URL["anthropic"], max_retries=0,
                          default_headers={"X-Team-Token": S["anthropic_default_header"]})
with ant.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=[{"role": "user", "content": "Hi"}],
                         extra_headers={"x-api-key": S["anthropic_extra"]}) as s:
    out["anthropic_stream"] = s.get_final_message().content[0].text

# --- Mistral --------------------------------------------------------------------------
env_mi = Mistral(server_url=URL["mistral"])  # MISTRAL_API_KEY
c = env_mi.chat.complete(model="mistral-small-latest", messages=[{"role": "user", "content": USER % S["prompt_mi_key"]}])
out["mistral_complete"] = c.choices[0].message.content
mi = Mistral(api_key=S["mistral_arg"], server_url=URL["mistral"])
text = []
for ev in mi.chat.stream(model="mistral-small-latest", messages=[{"role": "user", "content": "Hi"}],
                         http_headers={"X-Custom-Token": S["mistral_header"]}):
    text.append(ev.data.choices[0].delta.content or "")
out["mistral_stream"] = "".join(str(t) for t in text)


# --- ops: secrets where users put them ------------------------------------------------
@dataclasses.dataclass
class Config:
    model: str
    api_key: str
    token: str


@weave_agent.op
def login(user, password, api_key, authorization, headers, config, **options):
    return {"user": user, "token": S["op_return_token"], "note": "issued " + S["op_return_shaped"]}


@weave_agent.op
def ask(prompt):
    return "echo: " + prompt


@weave_agent.op
def fails():
    raise ValueError("the server refused the key " + S["op_exception_key"])


res = login(
    "alice", S["op_password"], S["op_api_key"], "Bearer " + S["op_bearer"],
    {"Authorization": "Basic " + S["op_basic"], "X-Api-Key": S["op_header_key"], "Cookie": "sid=" + S["op_cookie"]},
    Config("gpt-4o", S["op_config_key"], S["op_config_token"]),
    openai_api_key=S["op_kw_key"], client_secret=S["op_client_secret"],
)
out["login"] = res["user"]
out["ask"] = ask("use this key: " + S["op_prompt_key"]) == "echo: use this key: " + S["op_prompt_key"]
try:
    fails()
except ValueError:
    out["fails"] = True
print(json.dumps(out), flush=True)

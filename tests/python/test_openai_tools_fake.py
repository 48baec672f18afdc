"""Function calling through the official `openai` Python client against r1-http-fake-server
(coordinator/testing/fake_server_main.cc): a user message containing "[[tool:NAME]]" makes the
fake model answer with reasoning, a short text and a DeepSeek tool call of NAME. The client must
parse `message.tool_calls` (non-streaming) and the `tool_calls` deltas (streaming) with
finish_reason "tool_calls"; a tool round trip (the call and its result sent back) must be
accepted; tool_choice values this server does not implement must surface as BadRequestError
naming `tool_choice`."""

from __future__ import annotations

import json

import openai
import pytest

from test_openai_client_fake import MODEL, FakeServer

TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]},
    },
}]


@pytest.fixture(scope="module")
def client(build_dir):
    s = FakeServer(build_dir, "--token_delay_ms=1")
    yield openai.OpenAI(base_url=s.base_url, api_key="unused", max_retries=0, timeout=30)
    s.stop()


def test_tool_call_non_streaming(client):
    user = "Weather in Paris? [[tool:get_weather]]"
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": user}],
                                       tools=TOOLS, tool_choice="auto")
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "\n\nCalling get_weather."
    assert choice.message.reasoning_content == "A tool is needed."
    calls = choice.message.tool_calls
    assert len(calls) == 1
    assert calls[0].type == "function"
    assert calls[0].id.startswith("call_")
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"q": user}


def test_tool_call_streaming(client):
    user = "Weather in Oslo? [[tool:get_weather]]"
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": user}], tools=TOOLS, stream=True)
    content, finish, calls = "", None, {}
    for chunk in stream:
        delta = chunk.choices[0].delta
        content += delta.content or ""
        for call in delta.tool_calls or []:
            entry = calls.setdefault(call.index, {"id": None, "name": "", "arguments": ""})
            entry["id"] = call.id or entry["id"]
            if call.function is not None:
                entry["name"] += call.function.name or ""
                entry["arguments"] += call.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert content == "\n\nCalling get_weather."
    assert list(calls) == [0]
    assert calls[0]["id"].startswith("call_")
    assert calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"q": user}


def test_tool_round_trip_and_tool_choice_none(client):
    first = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "[[tool:get_weather]]"}], tools=TOOLS)
    call = first.choices[0].message.tool_calls[0]
    messages = [
        {"role": "user", "content": "[[tool:get_weather]]"},
        first.choices[0].message.model_dump(exclude_none=True, exclude={"reasoning_content"}),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    r = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    # After a tool result R1's template does not reopen <think>: the fake tells a story.
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.tool_calls is None
    # tool_choice "none": the call's text is not parsed (its markers are skipped as usual).
    r = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "[[tool:get_weather]]"}], tools=TOOLS,
        tool_choice="none")
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.tool_calls is None
    assert r.choices[0].message.content.startswith("\n\nCalling get_weather.function")


@pytest.mark.parametrize("kwargs, param, code", [
    ({"tool_choice": "required"}, "tool_choice", "unsupported_parameter"),
    ({"tool_choice": {"type": "function", "function": {"name": "get_weather"}}}, "tool_choice",
     "unsupported_parameter"),
    ({"tools": [{"type": "function", "function": {"name": "bad name"}}]},
     "tools[0].function.name", "invalid_value"),
])
def test_tool_refusals_name_the_parameter(client, kwargs, param, code):
    args = {"tools": TOOLS, **kwargs}
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}],
                                       **args)
    assert e.value.body["param"] == param
    assert e.value.body["code"] == code

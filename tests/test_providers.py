"""The real openai and anthropic SDKs against a fake provider on 127.0.0.1."""

import asyncio
import datetime
import time

import pytest
from django.core.exceptions import ValidationError

from runs.engine import CallControl, call_with_retries
from runs.fake_server import FakeProvider, Planned
from runs.models import ModelEndpoint
from runs.providers import (
    ModelRequest,
    ProviderError,
    RetryPolicy,
    get_provider,
)

QUICK = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.5)
REQUEST = ModelRequest(
    messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Summarise the file."},
    ],
    max_output_tokens=100,
)


@pytest.fixture
def fake():
    with FakeProvider() as server:
        yield server


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-openai-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-anthropic-key")


def endpoint(provider: str, base_url: str, **fields) -> ModelEndpoint:
    """An unsaved endpoint: providers need no database."""
    return ModelEndpoint(
        slug="m",
        display_name="M",
        provider=provider,
        model_id="model-x",
        release_date=datetime.date(2025, 1, 1),
        base_url=base_url,
        **fields,
    )


def call(
    ep: ModelEndpoint,
    request: ModelRequest = REQUEST,
    policy: RetryPolicy = QUICK,
    timeout: float = 5.0,
):
    async def go():
        provider = get_provider(ep, timeout=timeout)
        control = CallControl()
        try:
            outcome = await call_with_retries(provider, request, policy, control=control)
        finally:
            await provider.aclose()
        error = outcome.error or control.fatal
        if error is not None:
            raise error
        return outcome.response, outcome.tries

    return asyncio.run(go())


def test_openai_chat_completion_through_the_sdk(fake):
    fake.plan(Planned(text="The chronology has 12 events."))
    ep = endpoint("openai", fake.openai_url, parameters={"temperature": 0.2})
    response, tries = call(ep)
    assert response.text == "The chronology has 12 events."
    # The fake counts 1.3 tokens a word, rounded up: 5 words read, 5 written.
    assert (response.input_tokens, response.output_tokens, tries) == (7, 7, 1)
    sent = fake.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["json"]["model"] == "model-x"
    assert sent["json"]["max_completion_tokens"] == 100
    assert sent["json"]["temperature"] == 0.2
    assert sent["headers"]["authorization"] == "Bearer test-openai-key"


def test_openai_compatible_servers_get_max_tokens_and_json_mode(fake):
    ep = endpoint("openai_compatible", fake.openai_url)
    call(ep, ModelRequest(messages=REQUEST.messages, max_output_tokens=50, json_output=True))
    sent = fake.requests[0]["json"]
    assert sent["max_tokens"] == 50
    assert sent["response_format"] == {"type": "json_object"}


def test_anthropic_messages_through_the_sdk(fake):
    fake.plan(Planned(text="Handover written."))
    response, _ = call(endpoint("anthropic", fake.anthropic_url))
    assert response.text == "Handover written."
    assert (response.input_tokens, response.output_tokens) == (7, 3), "5 words read, 2 written"
    sent = fake.requests[0]
    assert sent["path"] == "/v1/messages"
    assert sent["json"]["system"] == "Be brief."
    assert sent["json"]["messages"] == [{"role": "user", "content": "Summarise the file."}]
    assert sent["json"]["max_tokens"] == 100
    assert sent["headers"]["authorization"] == "Bearer test-anthropic-key"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_rate_limits_are_retried_after_the_time_the_server_asks(fake, provider):
    fake.plan(Planned(status=429, headers={"retry-after-ms": "300"}), Planned(text="ok"))
    ep = endpoint(provider, fake.openai_url if provider == "openai" else fake.anthropic_url)
    started = time.monotonic()
    response, tries = call(ep)
    assert response.text == "ok"
    assert tries == 2
    assert time.monotonic() - started >= 0.3
    assert len(fake.requests) == 2, "the SDK's own retries must be off"


@pytest.mark.parametrize("status,kind", [(500, "server_error"), (529, "overloaded")])
def test_server_errors_are_retried_up_to_the_limit(fake, status, kind):
    fake.plan(*[Planned(status=status)] * 4)
    with pytest.raises(ProviderError) as caught:
        call(endpoint("anthropic", fake.anthropic_url))
    assert caught.value.kind == kind
    assert caught.value.tries == 4
    assert len(fake.requests) == 4


def test_authentication_errors_are_not_retried(fake):
    fake.plan(Planned(status=401))
    with pytest.raises(ProviderError) as caught:
        call(endpoint("openai", fake.openai_url))
    assert caught.value.kind == "auth"
    assert len(fake.requests) == 1


def test_an_exhausted_quota_is_not_retried(fake):
    body = {
        "error": {
            "message": "You exceeded your quota",
            "type": "insufficient_quota",
            "code": "insufficient_quota",
        }
    }
    fake.plan(Planned(status=429, body=body))
    with pytest.raises(ProviderError) as caught:
        call(endpoint("openai", fake.openai_url))
    assert caught.value.kind == "spend_limit"
    assert len(fake.requests) == 1


def test_a_slow_reply_times_out_and_is_retried(fake):
    fake.plan(Planned(text="late", delay=1.0), Planned(text="on time"))
    response, tries = call(endpoint("openai", fake.openai_url), timeout=0.3)
    assert response.text == "on time"
    assert tries == 2


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_malformed_body_is_a_bad_response_and_tried_again(fake, api):
    fake.plan(*[Planned(body="{not json")] * 4)
    with pytest.raises(ProviderError) as caught:
        call(endpoint("openai", fake.openai_url, parameters={"api": api}))
    assert caught.value.kind == "bad_response"
    assert caught.value.tries == 4, "a reply cut short by a proxy is worth another try"


def test_a_missing_key_fails_clearly(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(ProviderError) as caught:
        call(endpoint("anthropic", "http://127.0.0.1:9"))
    assert caught.value.kind == "auth"
    assert "ANTHROPIC_API_KEY" in str(caught.value)


def test_an_endpoint_can_name_its_own_key_variable(fake, monkeypatch):
    monkeypatch.setenv("LOCAL_VLLM_KEY", "local-secret")
    call(endpoint("openai_compatible", fake.openai_url, api_key_env="LOCAL_VLLM_KEY"))
    assert fake.requests[0]["headers"]["authorization"] == "Bearer local-secret"


# --- OpenAI Responses API -----------------------------------------------------------------


def responses_body(*texts: str, input_tokens: int = 21, output_tokens: int = 9) -> dict:
    """A Responses API reply: a reasoning item, then a message with one part per text."""
    return {
        "id": "resp_fake",
        "object": "response",
        "created_at": 1_700_000_000,
        "status": "completed",
        "model": "model-x",
        "output": [
            {"type": "reasoning", "id": "rs_fake", "summary": []},
            {
                "type": "message",
                "id": "msg_fake",
                "status": "completed",
                "role": "assistant",
                "content": [
                    {"type": "output_text", "text": text, "annotations": []} for text in texts
                ],
            },
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 4},
            "total_tokens": input_tokens + output_tokens,
        },
    }


def test_an_endpoint_can_use_openais_responses_api(fake):
    fake.plan(Planned(body=responses_body("The chronology ", "has 12 events.")))
    parameters = {"api": "responses", "temperature": 0.3, "top_p": 0.9}
    request = ModelRequest(messages=REQUEST.messages, max_output_tokens=100, json_output=True)
    response, tries = call(endpoint("openai", fake.openai_url, parameters=parameters), request)
    assert response.text == "The chronology has 12 events."
    assert (response.input_tokens, response.output_tokens, tries) == (21, 9, 1)
    sent = fake.requests[0]
    assert sent["path"] == "/v1/responses"
    assert sent["headers"]["authorization"] == "Bearer test-openai-key"
    assert sent["json"] == {
        "model": "model-x",
        "instructions": "Be brief.",
        "input": [{"role": "user", "content": "Summarise the file."}],
        "max_output_tokens": 100,
        "temperature": 0.3,
        "top_p": 0.9,
        "text": {"format": {"type": "json_object"}},
        "store": False,
    }


def test_without_api_responses_an_openai_compatible_server_gets_chat_completions(fake):
    call(endpoint("openai_compatible", fake.openai_url, parameters={"api": "chat"}))
    call(endpoint("openai_compatible", fake.openai_url))
    assert [r["path"] for r in fake.requests] == ["/v1/chat/completions"] * 2


@pytest.mark.parametrize(
    ("api", "path", "sent"),
    [
        ("chat", "/v1/chat/completions", {"reasoning_effort": "high"}),
        ("responses", "/v1/responses", {"reasoning": {"effort": "high"}}),
    ],
)
def test_reasoning_effort_reaches_either_openai_api(fake, api, path, sent):
    fake.plan(Planned(text="ok"))
    parameters = {"api": api, "reasoning_effort": "high"}
    response, _ = call(endpoint("openai", fake.openai_url, parameters=parameters))
    assert response.text == "ok"
    assert fake.requests[0]["path"] == path
    assert sent.items() <= fake.requests[0]["json"].items()


def test_the_responses_api_is_retried_after_a_rate_limit_and_fails_on_auth(fake):
    fake.plan(
        Planned(status=429, headers={"retry-after-ms": "50"}),
        Planned(body=responses_body("ok")),
        Planned(status=401),
    )
    ep = endpoint("openai", fake.openai_url, parameters={"api": "responses"})
    response, tries = call(ep)
    assert (response.text, tries) == ("ok", 2)
    with pytest.raises(ProviderError) as caught:
        call(ep)
    assert caught.value.kind == "auth"
    assert len(fake.requests) == 3


# --- Anthropic extended thinking ----------------------------------------------------------


def test_an_anthropic_model_that_thinks_gets_its_budget_on_top_and_no_temperature(fake):
    reply = {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": "model-x",
        "content": [
            {"type": "thinking", "thinking": "The file has a gap in March.", "signature": "s"},
            {"type": "text", "text": "Handover written."},
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 13, "output_tokens": 40},
    }
    fake.plan(Planned(body=reply))
    parameters = {"thinking_budget": 2048, "temperature": 0.7, "top_p": 0.97}
    response, _ = call(endpoint("anthropic", fake.anthropic_url, parameters=parameters))
    assert response.text == "Handover written.", "thinking is not part of the answer"
    sent = fake.requests[0]["json"]
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert sent["max_tokens"] == 2048 + 100, "the answer keeps its 100 tokens beyond the budget"
    assert "temperature" not in sent
    assert sent["top_p"] == 0.97


def test_an_anthropic_model_that_does_not_think_gets_its_temperature(fake):
    call(endpoint("anthropic", fake.anthropic_url, parameters={"temperature": 0.7}))
    sent = fake.requests[0]["json"]
    assert sent["temperature"] == 0.7
    assert "thinking" not in sent
    assert sent["max_tokens"] == 100


# --- images -------------------------------------------------------------------------------

PNG_BASE64 = "iVBORw0KGgo="  # the PNG signature: enough for a server that only relays it
IMAGE_REQUEST = ModelRequest(
    messages=[
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Describe the photo."},
                {
                    "type": "image_url",
                    "image_url": {"url": f"data:image/png;base64,{PNG_BASE64}"},
                },
                {"type": "text", "text": "In one line."},
            ],
        },
    ],
    max_output_tokens=100,
)


def test_images_reach_chat_completions_as_image_url_parts(fake):
    call(endpoint("openai", fake.openai_url), IMAGE_REQUEST)
    assert fake.requests[0]["json"]["messages"][1] == IMAGE_REQUEST.messages[1]


def test_images_reach_the_responses_api_as_input_images(fake):
    fake.plan(Planned(body=responses_body("A wall.")))
    call(endpoint("openai", fake.openai_url, parameters={"api": "responses"}), IMAGE_REQUEST)
    assert fake.requests[0]["json"]["input"] == [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Describe the photo."},
                {
                    "type": "input_image",
                    "image_url": f"data:image/png;base64,{PNG_BASE64}",
                    "detail": "auto",
                },
                {"type": "input_text", "text": "In one line."},
            ],
        }
    ]


def test_images_reach_anthropic_as_base64_image_blocks(fake):
    call(endpoint("anthropic", fake.anthropic_url), IMAGE_REQUEST)
    sent = fake.requests[0]["json"]
    assert sent["system"] == "Be brief."
    assert sent["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Describe the photo."},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG_BASE64},
                },
                {"type": "text", "text": "In one line."},
            ],
        }
    ]


# --- endpoint parameters ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("provider", "parameters"),
    [
        ("openai", {"api": "responses", "reasoning_effort": "high", "vision": True}),
        ("openai_compatible", {"temperature": 0, "top_p": 1, "seed": 7, "max_output_tokens": 9}),
        ("anthropic", {"thinking_budget": 1024, "top_p": 0.95, "vision": False}),
        ("simulated", {"skill": 1.5, "latency_ms": 0, "failure_rate": 0.1}),
    ],
)
def test_documented_parameters_are_accepted(provider, parameters):
    endpoint(provider, "http://127.0.0.1:9", parameters=parameters).full_clean()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("provider", "parameters", "message"),
    [
        ("openai", {"temprature": 0.2}, "temprature: unknown parameter; openai endpoints take"),
        ("openai", {"temperature": "0.2"}, "temperature: must be a number, got '0.2'"),
        ("openai", {"seed": 1.5}, "seed: must be a whole number, got 1.5"),
        ("openai", {"vision": 1}, "vision: must be true or false, got 1"),
        ("openai", {"max_output_tokens": True}, "max_output_tokens: must be a whole number"),
        ("openai", {"api": "completions"}, "api: must be one of chat, responses"),
        ("openai", {"reasoning_effort": "extreme"}, "reasoning_effort: must be one of none"),
        ("openai", {"top_p": 1.5}, "top_p: must be at most 1, got 1.5"),
        ("openai", {"api": "responses", "seed": 3}, "seed: the Responses API takes no seed"),
        ("openai", {"thinking_budget": 2048}, "thinking_budget: not used by openai endpoints"),
        ("anthropic", {"reasoning_effort": "high"}, "reasoning_effort: not used by anthropic"),
        ("anthropic", {"thinking_budget": 512}, "thinking_budget: must be at least 1024"),
        (
            "anthropic",
            {"thinking_budget": 2048, "temperature": 0.5},
            "temperature: cannot be set with thinking_budget",
        ),
        ("simulated", {"latency_ms": "fast"}, "latency_ms: must be a whole number, got 'fast'"),
        ("simulated", ["temperature"], "parameters must be a JSON object"),
    ],
)
def test_a_wrong_parameter_is_refused_with_an_error_naming_it(provider, parameters, message):
    with pytest.raises(ValidationError) as caught:
        endpoint(provider, "http://127.0.0.1:9", parameters=parameters).full_clean()
    errors = caught.value.message_dict["parameters"]
    assert any(error.startswith(message) for error in errors), errors


def test_request_budgets_are_read_from_openai_and_anthropic_headers():
    from runs.providers import RateLimits, rate_limits_from_headers

    openai_headers = {
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "499",
        "x-ratelimit-reset-requests": "1m0.5s",
    }
    assert rate_limits_from_headers(openai_headers) == RateLimits(500, 499, 60.5)
    assert rate_limits_from_headers({**openai_headers, "x-ratelimit-reset-requests": "20ms"}) == (
        RateLimits(500, 499, 0.02)
    )
    soon = (
        (datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=30))
        .isoformat()
        .replace("+00:00", "Z")
    )
    limits = rate_limits_from_headers(
        {
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "0",
            "anthropic-ratelimit-requests-reset": soon,
        }
    )
    assert (limits.limit, limits.remaining) == (50, 0)
    assert 28 < limits.reset_seconds <= 30
    assert rate_limits_from_headers({"server": "llama.cpp"}) is None
    assert rate_limits_from_headers({"x-ratelimit-limit-requests": "many"}) is None


def test_structured_output_is_a_parameter_of_openai_style_endpoints_only():
    from runs.providers import parameter_problems

    assert parameter_problems("openai_compatible", {"structured_output": "json_object"}) == []
    assert parameter_problems("openai_compatible", {"structured_output": "grammar"}) == [
        "structured_output: must be one of json_schema, json_object, none, got 'grammar'"
    ]
    assert parameter_problems("anthropic", {"structured_output": "none"}) == [
        "structured_output: not used by anthropic endpoints"
    ]

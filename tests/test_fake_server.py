"""The fake model provider, driven by the real openai and anthropic SDKs."""

import argparse
import asyncio
import json
import time

import anthropic
import httpx2
import openai
import pytest

from runs.fake_server import (
    FakeConfig,
    FakeProvider,
    Planned,
    RateWindow,
    add_config_arguments,
    config_from_options,
)

QUICK_BATCH = 0.1  # seconds before a batch ends: long enough to poll it in progress


def openai_client(fake: FakeProvider, **options) -> openai.OpenAI:
    return openai.OpenAI(api_key="k", base_url=fake.openai_url, max_retries=0, **options)


def anthropic_client(fake: FakeProvider, **options) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="k", base_url=fake.anthropic_url, max_retries=0, **options)


def ask(client: openai.OpenAI, text: str = "Summarise the file.") -> str | None:
    completion = client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": text}]
    )
    return completion.choices[0].message.content


def wait_until_ended(retrieve, batch_id: str, ended: set[str]):
    """Poll a batch as a client would, failing the test rather than hanging."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        batch = retrieve(batch_id)
        if (
            getattr(batch, "status", None) in ended
            or getattr(batch, "processing_status", None) in ended
        ):
            return batch
        time.sleep(0.02)
    raise AssertionError(f"batch {batch_id} did not end")


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# --- model calls --------------------------------------------------------------------------


def test_chat_completions_answer_with_the_reply_function_and_count_tokens_from_the_text():
    def reply(request: dict) -> str:
        return "Echo: " + request["messages"][-1]["content"]

    with FakeProvider(reply=reply) as fake:
        completion = openai_client(fake).chat.completions.create(
            model="gpt-fake",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Count the words here."},
            ],
        )
    assert completion.choices[0].message.content == "Echo: Count the words here."
    assert completion.model == "gpt-fake"
    # 6 words read, 5 written, at 1.3 tokens a word rounded up.
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (8, 7)
    assert fake.requests[0]["path"] == "/v1/chat/completions"
    assert fake.requests[0]["headers"]["authorization"] == "Bearer k"


def test_the_responses_api_gives_output_text_and_usage():
    with FakeProvider(reply=lambda request: f"You said: {request['input']}") as fake:
        response = openai_client(fake).responses.create(
            model="gpt-fake", instructions="Be brief.", input="Three words here."
        )
    assert response.output_text == "You said: Three words here."
    assert (response.usage.input_tokens, response.usage.output_tokens) == (7, 7)
    assert fake.requests[0]["path"] == "/v1/responses"


def test_anthropic_messages_answer_in_the_messages_shape():
    with FakeProvider(reply=lambda request: "Handover written.") as fake:
        message = anthropic_client(fake).messages.create(
            model="claude-fake",
            max_tokens=100,
            system="Be brief.",
            messages=[{"role": "user", "content": [{"type": "text", "text": "Write it."}]}],
        )
    assert message.content[0].text == "Handover written."
    assert message.model == "claude-fake"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (6, 3)
    assert fake.requests[0]["path"] == "/v1/messages"


def test_planned_answers_come_before_the_configured_failures():
    with FakeProvider(FakeConfig(error_rate_500=1.0)) as fake:
        fake.plan(Planned(text="Scripted."), Planned(status=401))
        client = openai_client(fake)
        assert ask(client) == "Scripted."
        with pytest.raises(openai.AuthenticationError):
            ask(client)
        with pytest.raises(openai.InternalServerError):
            ask(client)
        stats = fake.stats()
    assert stats["planned"] == 2
    assert stats["injected"]["500"] == 1
    assert stats["by_status"] == {"200": 1, "401": 1, "500": 1}


def test_concurrent_calls_wait_out_their_latency_together():
    async def twenty_at_once(fake: FakeProvider) -> float:
        client = openai.AsyncOpenAI(api_key="k", base_url=fake.openai_url, max_retries=0)
        started = time.monotonic()
        await asyncio.gather(
            *[
                client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "hi"}]
                )
                for _ in range(20)
            ]
        )
        await client.close()
        return time.monotonic() - started

    with FakeProvider(FakeConfig(latency=0.2, jitter=0.05, seed=3)) as fake:
        elapsed = asyncio.run(twenty_at_once(fake))
    assert 0.15 <= elapsed < 2.0, "20 calls of 0.2 s in a row would take 4 s"


# --- injected failures --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "error"),
    [
        (FakeConfig(error_rate_429=1.0, retry_after=7), openai.RateLimitError),
        (FakeConfig(error_rate_500=1.0), openai.InternalServerError),
        (FakeConfig(error_rate_529=1.0), openai.InternalServerError),
        (FakeConfig(timeout_rate=1.0, hang_seconds=2.0), openai.APITimeoutError),
    ],
)
def test_each_injected_failure_reaches_the_openai_sdk_as_its_own_error(config, error):
    with FakeProvider(config) as fake, pytest.raises(error) as caught:
        ask(openai_client(fake, timeout=0.3))
    if error is openai.RateLimitError:
        headers = caught.value.response.headers
        assert (headers["retry-after"], headers["retry-after-ms"]) == ("7", "7000")


@pytest.mark.parametrize(
    ("config", "error"),
    [
        (FakeConfig(error_rate_429=1.0), anthropic.RateLimitError),
        (FakeConfig(error_rate_500=1.0), anthropic.InternalServerError),
        (FakeConfig(error_rate_529=1.0), anthropic.OverloadedError),
        (FakeConfig(timeout_rate=1.0, hang_seconds=2.0), anthropic.APITimeoutError),
    ],
)
def test_each_injected_failure_reaches_the_anthropic_sdk_as_its_own_error(config, error):
    with FakeProvider(config) as fake, pytest.raises(error) as caught:
        anthropic_client(fake, timeout=0.3).messages.create(
            model="claude-fake", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    if error is anthropic.OverloadedError:
        assert caught.value.body["error"]["type"] == "overloaded_error"


def test_a_hanging_call_is_dropped_after_hang_seconds():
    with FakeProvider(FakeConfig(timeout_rate=1.0, hang_seconds=0.2)) as fake:
        started = time.monotonic()
        with pytest.raises(openai.APIConnectionError) as caught:
            ask(openai_client(fake, timeout=5.0))
    assert not isinstance(caught.value, openai.APITimeoutError), "the server hung up first"
    assert time.monotonic() - started < 2.0


def test_a_malformed_body_is_a_200_that_no_json_parser_accepts():
    with FakeProvider(FakeConfig(malformed_rate=1.0)) as fake:
        raw = openai_client(fake).chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(raw.text)
        with pytest.raises(ValueError):
            ask(openai_client(fake))


def statuses_by_prompt(seed: int, prompts: list[str]) -> dict[str, list[int]]:
    """The status each prompt got, in the order the prompts were sent."""
    answers: dict[str, list[int]] = {}
    with FakeProvider(FakeConfig(error_rate_500=0.5, seed=seed)) as fake, httpx2.Client() as client:
        for prompt in prompts:
            body = {"model": "m", "messages": [{"role": "user", "content": prompt}]}
            reply = client.post(f"{fake.openai_url}/chat/completions", json=body)
            answers.setdefault(prompt, []).append(reply.status_code)
    return answers


def test_the_same_seed_injects_the_same_failures_whatever_the_order_of_arrival():
    prompts = [f"Task {n}" for n in range(30)] + ["Retried task"] * 10
    first = statuses_by_prompt(11, prompts)
    assert first == statuses_by_prompt(11, prompts[::-1])
    assert first != statuses_by_prompt(12, prompts)
    assert set(first["Retried task"]) == {200, 500}, "a retry of the same body is drawn anew"


# --- the requests-per-minute limit --------------------------------------------------------


def test_a_burst_over_the_rpm_limit_is_refused_with_the_time_until_a_slot_frees():
    with FakeProvider(FakeConfig(rpm=60)) as fake:
        client = openai_client(fake)
        refused = []
        for _ in range(65):
            try:
                ask(client)
            except openai.RateLimitError as error:
                refused.append(error.response.headers)
        stats = fake.stats()
    assert len(refused) == 5
    for headers in refused:
        assert 59 <= int(headers["retry-after"]) <= 60
        assert 55_000 < int(headers["retry-after-ms"]) <= 60_000
    assert (stats["rate_limited"], stats["injected"]["429"]) == (5, 0)
    assert stats["by_status"] == {"200": 60, "429": 5}


def test_the_rpm_window_slides_and_says_when_the_oldest_admission_leaves_it():
    window = RateWindow(rpm=2)
    assert (window.admit(0.0), window.admit(1.0)) == (None, None)
    assert window.admit(2.0) == 58.0, "the admission at 0 s leaves the window at 60 s"
    assert window.admit(60.0) is None
    assert window.admit(60.5) == 0.5, "refusals did not take a place in the window"


# --- OpenAI Batch API ---------------------------------------------------------------------


def upload_requests(client: openai.OpenAI, count: int, endpoint: str = "/v1/chat/completions"):
    lines = [
        {
            "custom_id": f"task-{n}",
            "method": "POST",
            "url": endpoint,
            "body": {"model": "gpt-fake", "messages": [{"role": "user", "content": f"Task {n}"}]}
            if endpoint == "/v1/chat/completions"
            else {"model": "gpt-fake", "input": f"Task {n}"},
        }
        for n in range(count)
    ]
    content = "".join(json.dumps(line) + "\n" for line in lines).encode()
    return client.files.create(file=("requests.jsonl", content), purpose="batch")


def echo_task(request: dict) -> str:
    """Answers name the task they answer, so a result can be checked against its custom_id."""
    text = request["messages"][-1]["content"] if "messages" in request else request["input"]
    return f"Answer to {text}"


def test_an_openai_batch_ends_with_shuffled_results_and_an_error_file():
    config = FakeConfig(batch_delay=QUICK_BATCH, batch_error_rate=0.25, seed=5)
    with FakeProvider(config, reply=echo_task) as fake:
        client = openai_client(fake)
        uploaded = upload_requests(client, 20)
        assert (uploaded.purpose, uploaded.status) == ("batch", "processed")
        batch = client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        assert batch.status == "in_progress"
        batch = wait_until_ended(client.batches.retrieve, batch.id, {"completed"})
        output = jsonl(client.files.content(batch.output_file_id).text)
        errors = jsonl(client.files.content(batch.error_file_id).text)
    assert batch.request_counts.total == 20
    assert batch.request_counts.completed == len(output) > 0
    assert batch.request_counts.failed == len(errors) > 0
    for line in output:
        answer = line["response"]["body"]["choices"][0]["message"]["content"]
        assert answer == f"Answer to Task {line['custom_id'].removeprefix('task-')}"
    assert all(line["response"]["status_code"] == 500 for line in errors)
    ids = [line["custom_id"] for line in output + errors]
    assert sorted(ids) == sorted(f"task-{n}" for n in range(20))
    assert [line["custom_id"] for line in output] != sorted(
        (line["custom_id"] for line in output), key=lambda custom_id: int(custom_id[5:])
    ), "results come in no particular order"
    assert batch.usage.output_tokens > 0


def test_an_openai_batch_of_responses_requests_is_answered_in_the_responses_shape():
    with FakeProvider(FakeConfig(batch_delay=QUICK_BATCH), reply=echo_task) as fake:
        client = openai_client(fake)
        uploaded = upload_requests(client, 3, endpoint="/v1/responses")
        batch = client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/responses", completion_window="24h"
        )
        batch = wait_until_ended(client.batches.retrieve, batch.id, {"completed"})
        output = jsonl(client.files.content(batch.output_file_id).text)
    assert batch.error_file_id is None
    texts = {line["custom_id"]: line["response"]["body"]["output"][0] for line in output}
    assert texts["task-2"]["content"][0] == {
        "type": "output_text",
        "text": "Answer to Task 2",
        "annotations": [],
    }


def test_an_expired_openai_batch_keeps_its_partial_results():
    config = FakeConfig(batch_delay=QUICK_BATCH, batch_expired_share=0.5, seed=1)
    with FakeProvider(config) as fake:
        client = openai_client(fake)
        uploaded = upload_requests(client, 10)
        batch = client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        batch = wait_until_ended(client.batches.retrieve, batch.id, {"expired", "completed"})
        output = jsonl(client.files.content(batch.output_file_id).text)
        errors = jsonl(client.files.content(batch.error_file_id).text)
    assert batch.status == "expired"
    assert batch.expired_at is not None
    assert (len(output), len(errors)) == (5, 5)
    assert all(line["error"]["code"] == "batch_expired" for line in errors)
    assert all(line["response"] is None for line in errors)


def test_a_cancelled_openai_batch_has_no_results_and_cannot_be_cancelled_twice():
    with FakeProvider(FakeConfig(batch_delay=5)) as fake:
        client = openai_client(fake)
        uploaded = upload_requests(client, 3)
        batch = client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        assert client.batches.cancel(batch.id).status == "cancelling"
        batch = client.batches.retrieve(batch.id)
        with pytest.raises(openai.ConflictError):
            client.batches.cancel(batch.id)
    assert batch.status == "cancelled"
    assert batch.output_file_id is None


def test_a_batch_of_an_unknown_file_is_not_found():
    with FakeProvider() as fake, pytest.raises(openai.NotFoundError):
        openai_client(fake).batches.create(
            input_file_id="file-000999", endpoint="/v1/chat/completions", completion_window="24h"
        )


# --- Anthropic Message Batches ------------------------------------------------------------


def message_batch_requests(count: int) -> list[dict]:
    return [
        {
            "custom_id": f"task-{n}",
            "params": {
                "model": "claude-fake",
                "max_tokens": 100,
                "messages": [{"role": "user", "content": f"Task {n}"}],
            },
        }
        for n in range(count)
    ]


def test_an_anthropic_batch_ends_with_succeeded_errored_and_expired_results():
    config = FakeConfig(
        batch_delay=QUICK_BATCH, batch_error_rate=0.3, batch_expired_share=0.2, seed=2
    )
    with FakeProvider(config, reply=echo_task) as fake:
        client = anthropic_client(fake)
        batch = client.messages.batches.create(requests=message_batch_requests(20))
        assert batch.processing_status == "in_progress"
        assert batch.request_counts.processing == 20
        batch = wait_until_ended(client.messages.batches.retrieve, batch.id, {"ended"})
        results = list(client.messages.batches.results(batch.id))
    counts = batch.request_counts
    assert counts.expired == 4
    assert counts.errored > 0 and counts.succeeded > 0
    assert counts.succeeded + counts.errored + counts.expired == 20
    by_type: dict[str, list] = {}
    for result in results:
        by_type.setdefault(result.result.type, []).append(result)
    assert {kind: len(items) for kind, items in by_type.items()} == {
        "succeeded": counts.succeeded,
        "errored": counts.errored,
        "expired": counts.expired,
    }
    for result in by_type["succeeded"]:
        number = result.custom_id.removeprefix("task-")
        assert result.result.message.content[0].text == f"Answer to Task {number}"
    assert by_type["errored"][0].result.error.error.type == "api_error"
    custom_ids = [result.custom_id for result in results]
    assert sorted(custom_ids) == sorted(f"task-{n}" for n in range(20))
    assert custom_ids != [f"task-{n}" for n in range(20)], "results come in no particular order"


def test_a_canceled_anthropic_batch_ends_with_every_request_canceled():
    with FakeProvider(FakeConfig(batch_delay=5)) as fake:
        client = anthropic_client(fake)
        batch = client.messages.batches.create(requests=message_batch_requests(3))
        assert client.messages.batches.cancel(batch.id).processing_status == "canceling"
        batch = client.messages.batches.retrieve(batch.id)
        results = list(client.messages.batches.results(batch.id))
    assert batch.processing_status == "ended"
    assert batch.request_counts.canceled == 3
    assert {result.result.type for result in results} == {"canceled"}


# --- counters, recording and control ------------------------------------------------------


def test_counters_are_served_on_get_stats_and_control_calls_are_not_counted():
    with FakeProvider() as fake:
        ask(openai_client(fake))
        stats = httpx2.get(f"{fake.base_url}/stats").json()
        missing = httpx2.get(f"{fake.openai_url}/nowhere")
    assert stats == {
        "requests": 1,
        "planned": 0,
        "rate_limited": 0,
        "by_route": {"/v1/chat/completions": 1},
        "by_status": {"200": 1},
        "injected": {"429": 0, "500": 0, "529": 0, "timeout": 0, "malformed": 0},
    }
    assert missing.status_code == 404


def test_behaviour_can_be_changed_while_the_server_runs():
    with FakeProvider() as fake:
        client = openai_client(fake)
        ask(client)
        changed = httpx2.post(f"{fake.base_url}/config", json={"error_rate_500": 1.0})
        assert changed.json()["error_rate_500"] == 1.0
        with pytest.raises(openai.InternalServerError):
            ask(client)
        refused = httpx2.post(f"{fake.base_url}/config", json={"error_rate_500": 3})
        assert refused.status_code == 400
        fake.config = FakeConfig()
        assert ask(client) == "A fake answer."


def test_recording_can_be_turned_off_for_big_benchmarks():
    with FakeProvider(FakeConfig(record_requests=False)) as fake:
        ask(openai_client(fake))
        assert fake.requests == []
        assert fake.stats()["requests"] == 1


def test_every_config_field_is_a_command_line_option():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    options = vars(parser.parse_args(["--rpm", "600", "--error-rate-429", "0.1", "--seed", "4"]))
    config = config_from_options(options, record_requests=False)
    assert (config.rpm, config.error_rate_429, config.seed) == (600, 0.1, 4)
    assert config.latency == FakeConfig().latency
    assert config.record_requests is False


def test_impossible_shares_are_refused():
    with pytest.raises(ValueError, match="add up to more than 1"):
        FakeConfig(error_rate_429=0.6, error_rate_500=0.6)


def test_a_forced_anthropic_tool_is_answered_with_a_tool_use_block():
    import anthropic

    from runs.fake_server import FakeProvider as Fake

    with Fake(reply=lambda request: '{"explanation": "ok", "criteria_met": true}') as fake:
        client = anthropic.Anthropic(api_key="k", base_url=fake.anthropic_url, max_retries=0)
        forced = client.messages.create(
            model="claude-x",
            max_tokens=100,
            messages=[{"role": "user", "content": "Judge this."}],
            tools=[{"name": "verdict", "input_schema": {"type": "object"}}],
            tool_choice={"type": "tool", "name": "verdict"},
        )
        plain = client.messages.create(
            model="claude-x", max_tokens=100, messages=[{"role": "user", "content": "Hi."}]
        )
    (block,) = forced.content
    assert (block.type, block.name, forced.stop_reason) == ("tool_use", "verdict", "tool_use")
    assert block.input == {"explanation": "ok", "criteria_met": True}
    assert plain.content[0].type == "text"
    assert plain.content[0].text == '{"explanation": "ok", "criteria_met": true}'

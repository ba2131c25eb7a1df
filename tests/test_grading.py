"""Grading through real SDKs against the fake judge server: the request each provider gets,
modes, unusable replies, the family guard, ensembles and what each verdict cost."""

import json
import re
from decimal import Decimal

import pytest

from graders import prompts
from graders.models import CriterionVerdict, Grade, Grader
from graders.services import grade_samples
from runs.engine import cache_key
from runs.fake_server import FakeProvider
from runs.models import CachedResponse, ModelEndpoint, Sample
from runs.providers import ModelRequest, is_reasoning_model
from runs.providers.simulated import judge_reply

pytestmark = pytest.mark.django_db

OPENAI = ModelEndpoint.Provider.OPENAI
ANTHROPIC = ModelEndpoint.Provider.ANTHROPIC
_CRITERION_ID = re.compile(r'<criterion id="(\d+)">')


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-openai-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-anthropic-key")


@pytest.fixture
def samples(small_suite, make_endpoint, eager_celery, django_capture_on_commit_callbacks):
    """Done samples of a simulated model of the family 'Acme', no grader active."""
    from runs import services as run_services

    with django_capture_on_commit_callbacks(execute=True):
        run = run_services.create_run(small_suite, make_endpoint("sim-model", family="Acme"))
    done = list(run.samples.filter(status=Sample.Status.DONE).select_related("task_version"))
    assert done
    return done


def user_prompt(request: dict) -> str:
    """The judge prompt's user message, in any of the three request shapes."""
    items = request.get("messages") or request.get("input")
    content = items[-1]["content"]
    return content if isinstance(content, str) else content[0]["text"]


def always(met: bool):
    """A judge that gives every criterion the same verdict, in per-criterion or batched form."""

    def reply(request: dict) -> str:
        ids = _CRITERION_ID.findall(user_prompt(request))
        if ids:
            return json.dumps(
                {
                    "verdicts": [
                        {"criterion_id": cid, "explanation": f"said {met}", "criteria_met": met}
                        for cid in ids
                    ]
                }
            )
        return json.dumps({"explanation": f"said {met}", "criteria_met": met})

    return reply


def by_model(replies: dict):
    return lambda request: replies[request["model"]](request)


def judge_on(fake, make_endpoint, slug: str, provider=OPENAI, **fields) -> ModelEndpoint:
    url = fake.anthropic_url if provider == ANTHROPIC else fake.openai_url
    fields.setdefault("input_price_per_mtok", Decimal("1"))
    fields.setdefault("output_price_per_mtok", Decimal("2"))
    return make_endpoint(slug, provider=provider, base_url=url, **fields)


def grades_of(grader: Grader) -> list[Grade]:
    return list(Grade.objects.filter(grader=grader).prefetch_related("verdicts__criterion"))


# --- the request each provider gets --------------------------------------------------------


def test_openai_chat_judges_get_a_strict_json_schema_and_temperature_0(samples, make_endpoint):
    with FakeProvider(reply=always(True)) as fake:
        judge = judge_on(fake, make_endpoint, "gpt-judge", parameters={"temperature": 0.7})
        grader = Grader.objects.create(name="chat", judge=judge, is_active=False)
        grade_samples([s.pk for s in samples], [grader])
        body = fake.requests[0]["json"]
    assert body["temperature"] == 0
    assert body["response_format"]["type"] == "json_schema"
    schema = body["response_format"]["json_schema"]
    assert schema["strict"] is True
    assert schema["name"] == prompts.V2_PER_CRITERION_SCHEMA.name
    assert schema["schema"]["required"] == ["explanation", "criteria_met"]
    assert all(g.status == Grade.Status.SCORED for g in grades_of(grader))


def test_openai_compatible_servers_can_fall_back_to_json_mode_or_nothing(samples, make_endpoint):
    formats = {}
    with FakeProvider(reply=always(True)) as fake:
        for mode in ("json_object", "none"):
            judge = judge_on(
                fake,
                make_endpoint,
                f"local-{mode.replace('_', '-')}",
                provider=ModelEndpoint.Provider.OPENAI_COMPATIBLE,
                parameters={"structured_output": mode},
            )
            grader = Grader.objects.create(name=mode, judge=judge, is_active=False)
            fake.requests.clear()
            grade_samples([samples[0].pk], [grader])
            formats[mode] = fake.requests[0]["json"].get("response_format")
            assert grades_of(grader)[0].status == Grade.Status.SCORED
    assert formats == {"json_object": {"type": "json_object"}, "none": None}


def test_the_responses_api_gets_a_json_schema_text_format(samples, make_endpoint):
    with FakeProvider(reply=always(False)) as fake:
        judge = judge_on(fake, make_endpoint, "resp-judge", parameters={"api": "responses"})
        grader = Grader.objects.create(
            name="responses", judge=judge, mode=Grader.Mode.BATCHED, is_active=False
        )
        grade_samples([samples[0].pk], [grader])
        body = fake.requests[0]["json"]
    assert body["temperature"] == 0
    text_format = body["text"]["format"]
    assert (text_format["type"], text_format["strict"]) == ("json_schema", True)
    assert text_format["name"] == prompts.V2_BATCHED_SCHEMA.name
    assert grades_of(grader)[0].status == Grade.Status.SCORED


def test_anthropic_judges_are_forced_to_call_a_tool_and_its_input_is_the_verdict(
    samples, make_endpoint
):
    with FakeProvider(reply=always(True)) as fake:
        judge = judge_on(fake, make_endpoint, "claude-judge", provider=ANTHROPIC)
        grader = Grader.objects.create(name="claude", judge=judge, is_active=False)
        grade_samples([samples[0].pk], [grader])
        body = fake.requests[0]["json"]
    assert body["tool_choice"] == {"type": "tool", "name": "criterion_verdict"}
    (tool,) = body["tools"]
    assert tool["input_schema"] == prompts.V2_PER_CRITERION_SCHEMA.schema
    assert body["temperature"] == 0
    (grade,) = grades_of(grader)
    assert grade.status == Grade.Status.SCORED
    verdict = grade.verdicts.first()
    assert verdict.met is True
    assert json.loads(verdict.raw_reply)["criteria_met"] is True


def test_thinking_and_reasoning_judges_get_no_forced_tool_and_no_temperature(
    samples, make_endpoint
):
    with FakeProvider(reply=always(True)) as fake:
        thinking = judge_on(
            fake,
            make_endpoint,
            "claude-thinking",
            provider=ANTHROPIC,
            parameters={"thinking_budget": 2048},
        )
        reasoning = judge_on(fake, make_endpoint, "o-judge", parameters={"reasoning_effort": "low"})
        bodies = {}
        for judge in (thinking, reasoning):
            grader = Grader.objects.create(name=judge.slug, judge=judge, is_active=False)
            fake.requests.clear()
            grade_samples([samples[0].pk], [grader])
            bodies[judge.slug] = fake.requests[0]["json"]
            # The prompt asks for the JSON, and the text reply is parsed.
            assert grades_of(grader)[0].status == Grade.Status.SCORED
    assert "tool_choice" not in bodies["claude-thinking"]
    assert "tools" not in bodies["claude-thinking"]
    assert "temperature" not in bodies["claude-thinking"]
    assert "temperature" not in bodies["o-judge"]
    assert bodies["o-judge"]["response_format"]["type"] == "json_schema"


def test_graders_of_rubric_v1_keep_their_prompts_and_requests(samples, make_endpoint):
    with FakeProvider(reply=always(True)) as fake:
        judge = judge_on(fake, make_endpoint, "gpt-judge")
        grader = Grader.objects.create(
            name="old", judge=judge, prompt_version="rubric-v1", is_active=False
        )
        grade_samples([samples[0].pk], [grader])
        body = fake.requests[0]["json"]
    assert body["response_format"] == {"type": "json_object"}
    assert "temperature" not in body
    assert body["messages"][0]["content"] == prompts.V1_SYSTEM
    assert body["messages"][-1]["content"].endswith("</candidate_output>")
    (grade,) = grades_of(grader)
    assert grade.prompt_version == "rubric-v1"
    assert grade.grader_config["prompt_version"] == "rubric-v1"


def test_the_cache_key_tells_requests_of_different_shape_or_temperature_apart(make_endpoint):
    judge = make_endpoint("gpt-judge", provider=OPENAI)
    messages = [{"role": "user", "content": "x"}]
    plain = ModelRequest(messages=messages, json_output=True)
    shaped = ModelRequest(
        messages=messages, json_output=True, output_schema=prompts.V2_PER_CRITERION_SCHEMA
    )
    cold = ModelRequest(messages=messages, json_output=True, temperature=0.0)
    keys = {cache_key(judge, r) for r in (plain, shaped, cold)}
    assert len(keys) == 3


# --- modes and unusable replies -----------------------------------------------------------


def test_per_criterion_and_batched_modes_give_the_same_verdicts_from_the_same_judge(
    samples, make_endpoint
):
    with FakeProvider(reply=lambda request: judge_reply(user_prompt(request))) as fake:
        judge = judge_on(fake, make_endpoint, "gpt-judge")
        per = Grader.objects.create(name="per", judge=judge, is_active=False)
        batched = Grader.objects.create(
            name="batched", judge=judge, mode=Grader.Mode.BATCHED, is_active=False
        )
        grade_samples([s.pk for s in samples], [per, batched])
    for sample in samples:
        found = [
            dict(
                CriterionVerdict.objects.filter(grade__sample=sample, grade__grader=g).values_list(
                    "criterion_id", "met"
                )
            )
            for g in (per, batched)
        ]
        assert found[0] == found[1]
        assert len(found[0]) == sample.task_version.criteria.count()


@pytest.mark.parametrize("mode", [Grader.Mode.PER_CRITERION, Grader.Mode.BATCHED])
@pytest.mark.parametrize(
    "reply",
    [
        "I think it is fine.",
        json.dumps({"criteria_met": "yes"}),
        json.dumps({"verdicts": [{"criterion_id": "0", "criteria_met": True}]}),
    ],
)
def test_unusable_judge_replies_leave_grades_unscored_never_zero(
    samples, make_endpoint, mode, reply
):
    with FakeProvider(reply=lambda request: reply) as fake:
        judge = judge_on(fake, make_endpoint, "gpt-judge")
        grader = Grader.objects.create(name="bad", judge=judge, mode=mode, is_active=False)
        grade_samples([s.pk for s in samples], [grader])
    for grade in grades_of(grader):
        assert grade.status == Grade.Status.UNSCORED
        assert grade.score is None and grade.success is None
        assert "unusable judge reply" in grade.unscored_reason
        assert not grade.verdicts.exists()
        # The calls were made and paid for, even though they gave nothing usable.
        assert grade.judge_cost > 0


# --- the family guard --------------------------------------------------------------------


def test_a_judge_never_grades_its_own_family(samples, make_endpoint):
    with FakeProvider(reply=always(True)) as fake:
        judge = judge_on(fake, make_endpoint, "acme-judge", family="ACME ")
        grader = Grader.objects.create(name="kin", judge=judge, is_active=False)
        grade_samples([s.pk for s in samples], [grader])
        assert fake.requests == []
    for grade in grades_of(grader):
        assert grade.status == Grade.Status.UNSCORED
        assert "family guard" in grade.unscored_reason


def test_a_blank_family_never_matches(make_endpoint, samples):
    ModelEndpoint.objects.filter(pk=samples[0].run.endpoint_id).update(family="")
    with FakeProvider(reply=always(True)) as fake:
        judge = judge_on(fake, make_endpoint, "plain-judge", family="")
        grader = Grader.objects.create(name="blank", judge=judge, is_active=False)
        grade_samples([samples[0].pk], [grader])
    assert grades_of(grader)[0].status == Grade.Status.SCORED


def test_allowing_the_same_family_grades_it_and_flags_the_grade(samples, make_endpoint):
    with FakeProvider(reply=always(True)) as fake:
        judge = judge_on(fake, make_endpoint, "acme-judge", family="acme")
        grader = Grader.objects.create(
            name="kin allowed", judge=judge, allow_same_family=True, is_active=False
        )
        grade_samples([s.pk for s in samples], [grader])
    for grade in grades_of(grader):
        assert grade.status == Grade.Status.SCORED
        assert grade.flags == ["same_family"]


def test_in_an_ensemble_the_same_family_judge_sits_out(samples, make_endpoint):
    replies = {"acme-judge": always(True), "other-a": always(False), "other-b": always(False)}
    with FakeProvider(reply=by_model(replies)) as fake:
        kin = judge_on(fake, make_endpoint, "acme-judge", family="Acme")
        grader = Grader.objects.create(name="ensemble", judge=kin, is_active=False)
        grader.extra_judges.set(
            [
                judge_on(fake, make_endpoint, "other-a", family="Other"),
                judge_on(fake, make_endpoint, "other-b", family="Other"),
            ]
        )
        grade_samples([samples[0].pk], [grader])
        asked = {r["json"]["model"] for r in fake.requests}
    assert asked == {"other-a", "other-b"}
    (grade,) = grades_of(grader)
    assert grade.status == Grade.Status.SCORED
    for verdict in grade.verdicts.all():
        assert {v["judge"] for v in verdict.votes} == {"other-a", "other-b"}


# --- ensembles ---------------------------------------------------------------------------


def test_each_criterion_takes_the_majority_of_the_judges(samples, make_endpoint):
    replies = {"a": always(True), "b": always(True), "c": always(False)}
    with FakeProvider(reply=by_model(replies)) as fake:
        grader = Grader.objects.create(
            name="three", judge=judge_on(fake, make_endpoint, "a"), is_active=False
        )
        grader.extra_judges.set(
            [judge_on(fake, make_endpoint, "b"), judge_on(fake, make_endpoint, "c")]
        )
        grade_samples([samples[0].pk], [grader])
    (grade,) = grades_of(grader)
    verdicts = list(grade.verdicts.all())
    assert all(v.met for v in verdicts)
    assert all([vote["met"] for vote in v.votes] == [True, True, False] for v in verdicts)
    assert "[a]" in verdicts[0].raw_reply and "[c]" in verdicts[0].raw_reply


def test_a_tie_counts_against_the_answer(samples, make_endpoint):
    replies = {"a": always(True), "b": always(False)}
    with FakeProvider(reply=by_model(replies)) as fake:
        grader = Grader.objects.create(
            name="two", judge=judge_on(fake, make_endpoint, "a"), is_active=False
        )
        grader.extra_judges.set([judge_on(fake, make_endpoint, "b")])
        grade_samples([samples[0].pk], [grader])
    (grade,) = grades_of(grader)
    for verdict in grade.verdicts.all():
        # Not met for a positive criterion; present for a negative one.
        assert verdict.met is (verdict.criterion.points < 0)
        assert "a tie counts against the answer" in verdict.explanation
    assert grade.score <= 0


def test_fewer_than_a_majority_of_usable_judges_leaves_the_grade_unscored(samples, make_endpoint):
    replies = {"a": always(True), "b": lambda r: "no idea", "c": lambda r: "{}"}
    with FakeProvider(reply=by_model(replies)) as fake:
        grader = Grader.objects.create(
            name="shaky", judge=judge_on(fake, make_endpoint, "a"), is_active=False
        )
        grader.extra_judges.set(
            [judge_on(fake, make_endpoint, "b"), judge_on(fake, make_endpoint, "c")]
        )
        grade_samples([samples[0].pk], [grader])
    (grade,) = grades_of(grader)
    assert grade.status == Grade.Status.UNSCORED
    assert "only 1 of 3 judges gave a usable verdict" in grade.unscored_reason


# --- what it cost ------------------------------------------------------------------------


def test_each_verdict_carries_its_calls_cost_and_the_grade_their_sum(samples, make_endpoint):
    with FakeProvider(reply=always(True)) as fake:
        judge = judge_on(fake, make_endpoint, "gpt-judge")
        grader = Grader.objects.create(name="per", judge=judge, is_active=False)
        grade_samples([samples[0].pk], [grader])
        usage = [r["json"] for r in fake.requests]
    (grade,) = grades_of(grader)
    verdicts = list(grade.verdicts.all())
    assert len(verdicts) == len(usage)
    assert all(v.cost > 0 and v.input_tokens > 0 and v.output_tokens > 0 for v in verdicts)
    assert sum(v.cost for v in verdicts) == grade.judge_cost
    assert sum(v.input_tokens for v in verdicts) == grade.judge_input_tokens
    assert grade.judge_cost == judge.cost_of(grade.judge_input_tokens, grade.judge_output_tokens)


def test_batched_verdicts_share_their_calls_cost_evenly(samples, make_endpoint):
    with FakeProvider(reply=always(False)) as fake:
        judge = judge_on(fake, make_endpoint, "gpt-judge")
        grader = Grader.objects.create(
            name="batched", judge=judge, mode=Grader.Mode.BATCHED, is_active=False
        )
        grade_samples([samples[0].pk], [grader])
        assert len(fake.requests) == 1
    (grade,) = grades_of(grader)
    verdicts = list(grade.verdicts.all())
    assert sum(v.cost for v in verdicts) == grade.judge_cost
    assert sum(v.output_tokens for v in verdicts) == grade.judge_output_tokens
    assert max(v.cost for v in verdicts) - min(v.cost for v in verdicts) <= Decimal("0.000001")


def test_an_ensembles_verdict_costs_the_sum_over_its_judges(samples, make_endpoint):
    with FakeProvider(reply=always(True)) as fake:
        grader = Grader.objects.create(
            name="pair", judge=judge_on(fake, make_endpoint, "a"), is_active=False
        )
        grader.extra_judges.set([judge_on(fake, make_endpoint, "b")])
        single = Grader.objects.create(
            name="single", judge=grader.judge, prompt_version="rubric-v2", is_active=False
        )
        grade_samples([samples[0].pk], [grader])
        CachedResponse.objects.all().delete()  # so that the single judge pays for its calls
        grade_samples([samples[0].pk], [single])
    pair_grade, single_grade = grades_of(grader)[0], grades_of(single)[0]
    # Both judges read the same prompt at the same prices: twice a single judge's cost.
    assert pair_grade.judge_cost == 2 * single_grade.judge_cost


def test_cached_judge_calls_cost_nothing(samples, make_endpoint):
    with FakeProvider(reply=always(True)) as fake:
        judge = judge_on(fake, make_endpoint, "gpt-judge")
        first = Grader.objects.create(name="first", judge=judge, is_active=False)
        again = Grader.objects.create(name="again", judge=judge, is_active=False)
        grade_samples([samples[0].pk], [first])
        calls = len(fake.requests)
        grade_samples([samples[0].pk], [again])
        assert len(fake.requests) == calls
    (grade,) = grades_of(again)
    assert grade.status == Grade.Status.SCORED
    assert grade.judge_cost == 0
    assert not grade.verdicts.filter(cost__gt=0).exists()
    assert grade.score == grades_of(first)[0].score


def test_a_grade_records_how_it_was_reached(samples, make_endpoint):
    with FakeProvider(reply=always(True)) as fake:
        judge = judge_on(fake, make_endpoint, "gpt-judge")
        grader = Grader.objects.create(name="recorded", judge=judge, is_active=False)
        grade_samples([samples[0].pk], [grader])
    (grade,) = grades_of(grader)
    assert grade.grader_config == grader.config()
    assert grade.prompt_version == prompts.PROMPT_VERSION
    tags = set(samples[0].task_version.criteria.values_list("tag", flat=True))
    assert set(grade.tag_scores) <= tags and grade.tag_scores


def test_cached_judge_calls_are_counted_on_the_grade(samples, make_endpoint):
    with FakeProvider(reply=always(True)) as fake:
        judge = judge_on(fake, make_endpoint, "gpt-judge")
        first = Grader.objects.create(name="first", judge=judge, is_active=False)
        again = Grader.objects.create(name="again", judge=judge, is_active=False)
        grade_samples([samples[0].pk], [first])
        calls = len(fake.requests)
        grade_samples([samples[0].pk], [again])
    criteria = samples[0].task_version.criteria.count()
    assert grades_of(first)[0].judge_cached_calls == 0
    assert grades_of(again)[0].judge_cached_calls == calls == criteria


def test_an_ensemble_counts_each_judges_cached_calls_and_pays_only_for_the_others(
    samples, make_endpoint
):
    with FakeProvider(reply=always(True)) as fake:
        a, b = judge_on(fake, make_endpoint, "a"), judge_on(fake, make_endpoint, "b")
        only_a = Grader.objects.create(name="only a", judge=a, is_active=False)
        pair = Grader.objects.create(name="pair", judge=a, is_active=False)
        pair.extra_judges.set([b])
        grade_samples([samples[0].pk], [only_a])  # a's answers are in the cache now
        fake.requests.clear()
        grade_samples([samples[0].pk], [pair])
        asked = [r["json"]["model"] for r in fake.requests]
    criteria = samples[0].task_version.criteria.count()
    assert asked == ["b"] * criteria
    (first,), (grade,) = grades_of(only_a), grades_of(pair)
    assert grade.judge_cached_calls == criteria
    # Both judges read the same prompts at the same prices and gave the same replies, so the
    # pair paid what judge a paid alone the first time: b's calls only.
    assert (grade.judge_input_tokens, grade.judge_output_tokens) == (
        first.judge_input_tokens,
        first.judge_output_tokens,
    )
    assert grade.judge_cost == first.judge_cost > 0
    verdicts = list(grade.verdicts.all())
    assert sum(v.cost for v in verdicts) == grade.judge_cost
    assert sum(v.input_tokens for v in verdicts) == grade.judge_input_tokens
    by_criterion = {v.criterion_id: v for v in first.verdicts.all()}
    assert all(v.cost == by_criterion[v.criterion_id].cost for v in verdicts)


def test_a_judge_reply_that_cannot_be_read_is_not_kept_in_the_cache(samples, make_endpoint):
    with FakeProvider(reply=lambda request: "I think it is fine.") as fake:
        judge = judge_on(fake, make_endpoint, "gpt-judge")
        first = Grader.objects.create(name="first", judge=judge, is_active=False)
        again = Grader.objects.create(name="again", judge=judge, is_active=False)
        grade_samples([samples[0].pk], [first])
        calls = len(fake.requests)
        assert not CachedResponse.objects.filter(model_id="gpt-judge").exists()
        grade_samples([samples[0].pk], [again])
        # Asked again rather than answered with the same unusable reply.
        assert len(fake.requests) == 2 * calls
    assert grades_of(again)[0].judge_cached_calls == 0
    assert grades_of(again)[0].judge_cost > 0


def test_grading_afresh_asks_the_judge_though_its_answers_are_cached(samples, make_endpoint):
    with FakeProvider(reply=always(True)) as fake:
        judge = judge_on(fake, make_endpoint, "gpt-judge")
        first = Grader.objects.create(name="first", judge=judge, is_active=False)
        again = Grader.objects.create(name="again", judge=judge, is_active=False)
        grade_samples([samples[0].pk], [first])
        calls = len(fake.requests)
        grade_samples([samples[0].pk], [again], fresh=True)
        assert len(fake.requests) == 2 * calls
    (grade,) = grades_of(again)
    assert grade.judge_cached_calls == 0 and grade.judge_cost == grades_of(first)[0].judge_cost


@pytest.mark.parametrize(
    "model_id", ["o1", "o3-mini", "o4-mini-2025-04-16", "gpt-5", "gpt-5-mini", "openai/o3"]
)
def test_reasoning_judges_are_known_by_their_model_id_and_get_no_temperature(
    samples, make_endpoint, model_id
):
    with FakeProvider(reply=always(True)) as fake:
        judge = judge_on(fake, make_endpoint, "reasoner", model_id=model_id)
        grader = Grader.objects.create(name="reasoner", judge=judge, is_active=False)
        grade_samples([samples[0].pk], [grader])
        body = fake.requests[0]["json"]
    assert body["model"] == model_id
    assert "temperature" not in body
    assert grades_of(grader)[0].status == Grade.Status.SCORED


@pytest.mark.parametrize(
    ("model_id", "reasoning"),
    [
        ("o1-preview", True),
        ("o3", True),
        ("gpt-5.1", True),
        ("gpt-5-nano", True),
        ("ft:gpt-5-mini:acme::abc123", True),
        ("O4-MINI", True),
        ("gpt-4o", False),
        ("gpt-4o-mini", False),
        ("gpt-4.1", False),
        ("o-judge", False),
        ("claude-opus-4-1", False),
        ("llama-3.1-70b", False),
    ],
)
def test_which_model_ids_are_reasoning_models(model_id, reasoning):
    assert is_reasoning_model({}, model_id) is reasoning

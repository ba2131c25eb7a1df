"""What a model is sent for a task version: system prompt, attachments, images, canary."""

import asyncio
import base64
import datetime
import shutil
from pathlib import Path

import pytest
import yaml
from django.contrib.auth import get_user_model

from occupations.attachments import add_attachment
from occupations.models import Suite, Task, TaskVersion
from occupations.seeding import SEED_DIR, SeedError, load_seeds
from runs.models import ModelEndpoint
from runs.prompting import SYSTEM_PROMPT, endpoint_takes_images, task_messages, task_prompt
from runs.providers import ModelRequest
from runs.providers.simulated import SimulatedProvider
from tests.test_attachments import make_png, upload

pytestmark = pytest.mark.django_db

PNG = make_png()


@pytest.fixture
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def draft_of(task: Task) -> TaskVersion:
    return TaskVersion.objects.create(
        task=task,
        number=99,
        instructions="Check the site survey and the photo of the north wall.",
        context="The client is a housing association.",
        deliverable="A one-page repair note.",
        estimated_minutes=30,
        reference_solution="Repair the render.",
    )


@pytest.fixture
def held_out_version(seeded, media_root) -> TaskVersion:
    """A held-out task's version with a text attachment and a photo, in that order."""
    task = Task.objects.filter(visibility=Task.Visibility.HELD_OUT).first()
    version = draft_of(task)
    expert = get_user_model().objects.create_user("expert", password="not-used")
    add_attachment(version, upload("survey.txt", b"Render cracked along the lintel.\n"), expert)
    add_attachment(version, upload("north-wall.png", PNG), expert)
    return version


def user_content(messages: list[dict]):
    assert [m["role"] for m in messages] == ["system", "user"]
    return messages[1]["content"]


def test_a_suite_with_its_own_system_prompt_tells_every_model_that(held_out_version):
    suite = Suite.objects.create(
        name="Terse", slug="terse", system_prompt="You are a surveyor. Answer in British English."
    )
    messages = task_messages(held_out_version, suite=suite)
    assert messages[0] == {
        "role": "system",
        "content": "You are a surveyor. Answer in British English.",
    }


@pytest.mark.parametrize("suite_prompt", [None, "", "  \n"])
def test_without_a_suite_prompt_models_get_the_default_one(held_out_version, suite_prompt):
    suite = None
    if suite_prompt is not None:
        suite = Suite.objects.create(name="Plain", slug="plain", system_prompt=suite_prompt)
    assert task_messages(held_out_version, suite=suite)[0]["content"] == SYSTEM_PROMPT


def test_attachments_reach_the_model_as_text_under_their_file_names(held_out_version):
    prompt = user_content(task_messages(held_out_version))
    assert isinstance(prompt, str)
    assert "### survey.txt\n\nRender cracked along the lintel." in prompt
    # Input material first, then the attachments, then what must be handed back.
    order = [
        prompt.index("## Input material"),
        prompt.index("## Attachments"),
        prompt.index("### survey.txt"),
        prompt.index("## Deliverable"),
    ]
    assert order == sorted(order)


def test_a_model_without_vision_is_told_which_image_was_left_out(held_out_version):
    prompt = user_content(task_messages(held_out_version, vision=False))
    assert isinstance(prompt, str)
    assert "### north-wall.png\n\n[Image north-wall.png is left out" in prompt
    assert base64.b64encode(PNG).decode() not in prompt


def test_a_model_with_vision_gets_the_image_as_an_image_part_in_place(held_out_version):
    parts = user_content(task_messages(held_out_version, vision=True))
    assert [part["type"] for part in parts] == ["text", "image_url", "text"]
    before, image, after = parts
    assert before["text"].endswith(
        "### survey.txt\n\nRender cracked along the lintel.\n\n### north-wall.png"
    )
    assert "left out" not in before["text"]
    url = image["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.partition(",")[2]) == PNG
    assert after["text"].startswith("## Deliverable\n\nA one-page repair note.")


@pytest.mark.parametrize("vision", [False, True])
def test_a_held_out_task_keeps_its_canary_whatever_is_attached(held_out_version, vision):
    suite = Suite.objects.create(name="S", slug="s", system_prompt="Custom.")
    content = user_content(task_messages(held_out_version, suite=suite, vision=vision))
    text = content if isinstance(content, str) else content[-1]["text"]
    assert text.endswith(held_out_version.task.canary_string)


def test_judges_see_the_task_as_text_with_attachments_and_images_named(held_out_version):
    prompt = task_prompt(held_out_version)
    assert "Render cracked along the lintel." in prompt
    assert "[Image north-wall.png is left out" in prompt
    assert str(held_out_version.task.canary) in prompt


def test_a_task_without_attachments_is_sent_as_before(seeded):
    public = Task.objects.filter(visibility=Task.Visibility.PUBLIC).first()
    version = public.latest_version()
    prompt = user_content(task_messages(version, vision=True))
    assert isinstance(prompt, str)
    assert "## Attachments" not in prompt
    assert prompt == task_prompt(version)
    assert "canary" not in prompt


@pytest.mark.parametrize(
    ("parameters", "takes_images"),
    [({"vision": True}, True), ({"vision": False}, False), ({}, False), (None, False)],
)
def test_only_an_endpoint_marked_vision_takes_images(parameters, takes_images):
    endpoint = ModelEndpoint(provider="openai", parameters=parameters)
    assert endpoint_takes_images(endpoint) is takes_images


def test_a_simulated_model_answers_a_task_whose_message_carries_an_image(held_out_version):
    endpoint = ModelEndpoint(
        slug="sim",
        provider="simulated",
        model_id="sim",
        release_date=datetime.date(2025, 1, 1),
        parameters={"vision": True, "skill": 20},
    )
    provider = SimulatedProvider(endpoint, [held_out_version])
    request = ModelRequest(
        messages=task_messages(held_out_version, vision=True),
        metadata={"task_version_id": held_out_version.pk},
    )
    response = asyncio.run(provider.complete(request))
    assert response.text == "Repair the render."
    assert response.input_tokens > 0


# --- suites.yaml --------------------------------------------------------------------------


@pytest.fixture
def seed_copy(tmp_path) -> Path:
    target = tmp_path / "seeds"
    shutil.copytree(SEED_DIR, target)
    return target


def write_suites(seed_dir: Path, **fields) -> None:
    suite = {"slug": "demo", "name": "Demo suite", "tasks": "all", **fields}
    (seed_dir / "suites.yaml").write_text(yaml.safe_dump({"suites": [suite]}))


def test_a_seeded_suite_carries_its_system_prompt(seed_copy):
    write_suites(seed_copy, system_prompt="You are a chartered surveyor.")
    load_seeds(seed_copy)
    suite = Suite.objects.get(slug="demo")
    version = suite.task_versions.first()
    assert task_messages(version, suite=suite)[0]["content"] == "You are a chartered surveyor."


def test_an_edited_system_prompt_changes_a_suite_until_a_run_freezes_it(seed_copy):
    write_suites(seed_copy, system_prompt="First.")
    load_seeds(seed_copy)
    write_suites(seed_copy, system_prompt="Second.")
    report = load_seeds(seed_copy)
    suite = Suite.objects.get(slug="demo")
    assert suite.system_prompt == "Second."
    assert report.counts["suites updated"] == 1

    suite.freeze()
    write_suites(seed_copy, system_prompt="Third.")
    report = load_seeds(seed_copy)
    suite.refresh_from_db()
    assert suite.system_prompt == "Second."
    assert any("demo is frozen" in note and "system prompt" in note for note in report.notes)


def test_a_system_prompt_that_is_not_text_is_refused_by_name(seed_copy):
    write_suites(seed_copy, system_prompt=["not", "text"])
    with pytest.raises(SeedError) as caught:
        load_seeds(seed_copy)
    assert "suites.yaml: suite demo: field 'system_prompt': must be text" in str(caught.value)

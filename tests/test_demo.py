import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from evalbuilder.demo import DEMO_FILE, DemoError, install_demo

pytestmark = pytest.mark.django_db


def test_the_demo_installs_once_and_leaves_existing_users_alone(seeded):
    first = install_demo()
    assert len(first.endpoints) >= 3
    assert len({e.release_date for e in first.endpoints}) == len(first.endpoints)
    assert all(e.is_simulated for e in [*first.endpoints, first.judge])
    assert all(first.credentials.values())
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(first.credentials["admin"])
    second = install_demo()
    assert not any(second.credentials.values())
    admin.refresh_from_db()
    assert admin.check_password(first.credentials["admin"])
    assert second.schedule.pk == first.schedule.pk
    assert second.schedule.periodic_task.enabled


def test_a_broken_demo_file_names_the_record_and_field(seeded, tmp_path):
    spec = yaml.safe_load(DEMO_FILE.read_text())
    spec["endpoints"][1].pop("release_date")
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(DemoError, match="endpoint 2: field 'release_date' is missing"):
        install_demo(path)
    spec = yaml.safe_load(DEMO_FILE.read_text())
    spec["schedule"]["suite"] = "nope"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(DemoError, match="schedule: field 'suite': no suite 'nope'"):
        install_demo(path)


def test_quickstart_refuses_to_install_the_demo_on_a_broker_server(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    with pytest.raises(CommandError, match="CELERY_BROKER_URL names a broker server"):
        call_command("quickstart", "--no-serve")

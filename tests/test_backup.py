"""What an operator finds after restoring a backup into a fresh database: every task version,
grade, release and uploaded file, or a clear refusal that leaves the target untouched."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection, connections

from audit.models import AuditEvent
from evalbuilder import backups
from graders.models import Grade
from occupations import workflow
from occupations.attachments import add_attachment
from occupations.models import Attachment, Occupation, TaskVersion
from reports import releases
from reports.models import Release

# Backups read committed data through a connection of their own (or pg_dump's).
pytestmark = pytest.mark.django_db(transaction=True)

ON_SQLITE = connection.vendor == "sqlite"
ON_POSTGRESQL = connection.vendor == "postgresql"
RESTORED = "restored"
MINUTES = b"Site meeting, 3 June: scaffolding to be struck on Friday; skip hire ends 10 June.\n"


@dataclass
class World:
    attachment: Attachment
    release: Release | None


@pytest.fixture
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def attach_minutes(author) -> Attachment:
    """A draft task of the author's with a text attachment stored under MEDIA_ROOT."""
    task = workflow.create_task(
        author=author,
        occupation=Occupation.objects.get(code="23-2011"),
        title="Site minutes",
        visibility="public",
    )
    upload = SimpleUploadedFile("minutes.txt", MINUTES, content_type="text/plain")
    return add_attachment(task.latest_version(), upload, author)


@pytest.fixture
def world(approved_release, users, media_root) -> World:
    """Seeded tasks, three graded runs, an approved release and a draft with an attachment."""
    return World(attach_minutes(users["author"]), approved_release)


@pytest.fixture
def small_world(users, media_root) -> World:
    """Seeded tasks and users, and a draft with an attachment: quick, for the refusals."""
    return World(attach_minutes(users["author"]), None)


@pytest.fixture
def restored(transactional_db, tmp_path) -> Iterator[str]:
    """A second database, empty, reachable as the connection alias RESTORED: a new SQLite
    file, or a new PostgreSQL database named after this process so that test runs side by
    side never share it."""
    config = dict(connections.databases["default"])
    if ON_POSTGRESQL:
        config["NAME"] = f"restore_test_{os.getpid()}"
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{config["NAME"]}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{config["NAME"]}"')
    else:
        config["NAME"] = str(tmp_path / "restored.sqlite3")
    connections.databases[RESTORED] = config
    # Django's test case lets only the databases it was set up with open a connection
    # lazily; opening this one here keeps the alias usable for the whole test.
    connections[RESTORED].connect()
    yield RESTORED
    connections[RESTORED].close()
    del connections[RESTORED]
    del connections.databases[RESTORED]
    if ON_POSTGRESQL:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{config["NAME"]}" WITH (FORCE)')


def back_up(path: Path) -> str:
    out = io.StringIO()
    call_command("backup", str(path), stdout=out)
    return out.getvalue()


def back_up_to(path: Path) -> Path:
    back_up(path)
    return path


def restore(path: Path, settings, media: Path, *options: str) -> str:
    """Restore into the RESTORED database and a MEDIA_ROOT of its own, as a second machine would."""
    original_media = settings.MEDIA_ROOT
    settings.MEDIA_ROOT = media
    out = io.StringIO()
    try:
        call_command("restore", str(path), "--database", RESTORED, *options, stdout=out)
    finally:
        settings.MEDIA_ROOT = original_media
    return out.getvalue()


def rows(queryset, *fields: str) -> list[tuple]:
    return list(queryset.order_by("pk").values_list("pk", *fields))


def tables_of(alias: str) -> list[str]:
    return connections[alias].introspection.table_names()


def rewrite(
    source: Path,
    target: Path,
    *,
    change_manifest: Callable[[dict], None] = lambda manifest: None,
    change_member: Callable[[str, bytes], bytes] = lambda name, data: data,
    extra: Iterable[tuple[tarfile.TarInfo, bytes]] = (),
) -> Path:
    """A copy of a backup archive with its manifest, a member's bytes or its members altered."""
    with tarfile.open(source) as original, tarfile.open(target, "w") as copy:
        for member in original.getmembers():
            data = original.extractfile(member).read()
            if member.name == backups.MANIFEST_NAME:
                manifest = json.loads(data)
                change_manifest(manifest)
                data = json.dumps(manifest).encode()
            else:
                data = change_member(member.name, data)
            member.size = len(data)
            copy.addfile(member, io.BytesIO(data))
        for member, data in extra:
            copy.addfile(member, io.BytesIO(data) if member.isreg() else None)
    return target


def assert_restored_like_the_original(world: World, restored_media: Path) -> None:
    originals = {
        "task versions": rows(TaskVersion.objects, "task_id", "number", "instructions"),
        "grades": rows(Grade.objects, "sample_id", "grader_id", "status", "score", "success"),
        "releases": rows(Release.objects, "identifier", "status", "checksum", "approved_at"),
    }
    copies = {
        "task versions": rows(
            TaskVersion.objects.using(RESTORED), "task_id", "number", "instructions"
        ),
        "grades": rows(
            Grade.objects.using(RESTORED), "sample_id", "grader_id", "status", "score", "success"
        ),
        "releases": rows(
            Release.objects.using(RESTORED), "identifier", "status", "checksum", "approved_at"
        ),
    }
    for kind, original in originals.items():
        assert original, f"the world has no {kind} to restore"
        assert copies[kind] == original, kind
    restored_release = Release.objects.using(RESTORED).get(pk=world.release.pk)
    assert restored_release.status == Release.Status.APPROVED
    assert releases.verify(restored_release)
    attachment = Attachment.objects.using(RESTORED).get(pk=world.attachment.pk)
    assert (restored_media / attachment.file.name).read_bytes() == MINUTES
    assert attachment.sha256 == world.attachment.sha256


@pytest.mark.skipif(not ON_SQLITE, reason="the suite runs on PostgreSQL")
def test_a_sqlite_backup_restored_into_a_fresh_file_has_every_record_and_file(
    world, restored, settings, tmp_path
):
    archive = tmp_path / "backup.tar"
    assert "Wrote" in back_up(archive)

    output = restore(archive, settings, tmp_path / "restored-media")

    assert_restored_like_the_original(world, tmp_path / "restored-media")
    assert "task versions" in output and "MISMATCH" not in output
    assert "every check passed" in output


@pytest.mark.skipif(not ON_POSTGRESQL, reason="needs DATABASE_URL to name a PostgreSQL server")
def test_a_pg_dump_backup_restored_into_a_fresh_database_has_every_record_and_file(
    world, restored, settings, tmp_path
):
    archive = tmp_path / "backup.tar"
    back_up(archive)
    with tarfile.open(archive) as members:
        dump = members.extractfile("database.pgdump").read()
    assert dump.startswith(b"PGDMP"), "a pg_dump custom-format archive"

    output = restore(archive, settings, tmp_path / "restored-media")

    assert_restored_like_the_original(world, tmp_path / "restored-media")
    assert connections[RESTORED].settings_dict["NAME"] == f"restore_test_{os.getpid()}"
    assert "every check passed" in output


def test_the_manifest_records_counts_checksums_migrations_and_every_file(world, tmp_path):
    archive = tmp_path / "backup.tar"
    back_up(archive)

    with tarfile.open(archive) as members:
        manifest = json.loads(members.extractfile(backups.MANIFEST_NAME).read())
        names = members.getnames()

    assert manifest["counts"]["task_versions"] == TaskVersion.objects.count()
    assert manifest["counts"]["grades"] == Grade.objects.count() > 0
    assert manifest["counts"]["releases"] == 1
    assert manifest["counts"]["attachments"] == 1
    assert manifest["release_checksums"] == {world.release.identifier: world.release.checksum}
    assert "0001_initial" in manifest["migrations"]["occupations"]
    assert manifest["media"] == [
        {
            "path": world.attachment.file.name,
            "size": len(MINUTES),
            "sha256": world.attachment.sha256,
        }
    ]
    assert "media/" + world.attachment.file.name in names
    assert manifest["attachments_without_file"] == []
    # The backup's own event is recorded after the dump, so it is not in it.
    events = AuditEvent.objects.exclude(action=AuditEvent.Action.BACKUP)
    assert events.count() > 0
    assert manifest["audit_trail"] == {
        "events": events.count(),
        "last_event_id": max(events.values_list("pk", flat=True)),
    }


def test_a_backup_never_overwrites_a_file_and_leaves_nothing_half_written(
    small_world, tmp_path, monkeypatch
):
    existing = tmp_path / "backup.tar"
    existing.write_bytes(b"an older backup")
    with pytest.raises(CommandError, match="already exists"):
        back_up(existing)
    assert existing.read_bytes() == b"an older backup"

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(backups, "_media_files", fail)
    with pytest.raises(OSError, match="disk full"):
        back_up(tmp_path / "new.tar")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.tar", "media"]


def test_a_non_empty_database_is_refused_unless_replace_names_the_tables_it_drops(
    small_world, restored, settings, tmp_path
):
    archive = tmp_path / "backup.tar"
    back_up(archive)
    restore(archive, settings, tmp_path / "restored-media")
    author = small_world.attachment.uploaded_by
    Attachment.objects.using(RESTORED).filter(pk=small_world.attachment.pk).update(
        original_name="changed after the restore"
    )

    with pytest.raises(CommandError, match=r"is not empty \(\d+ tables.*--replace"):
        restore(archive, settings, tmp_path / "restored-media")
    changed = Attachment.objects.using(RESTORED).get(pk=small_world.attachment.pk)
    assert changed.original_name == "changed after the restore"

    held = backups.schema_objects(connections[RESTORED])
    output = restore(archive, settings, tmp_path / "restored-media", "--replace")

    assert "--replace: dropping everything" in output
    assert all(str(item) in output for item in held)
    assert "table occupations_attachment" in output
    replaced = Attachment.objects.using(RESTORED).get(pk=small_world.attachment.pk)
    assert replaced.original_name == "minutes.txt"
    assert replaced.uploaded_by_id == author.pk


def test_a_manifest_that_disagrees_with_the_restored_data_fails_the_restore(
    small_world, restored, settings, tmp_path
):
    archive = back_up_to(tmp_path / "backup.tar")

    def inflate(manifest: dict) -> None:
        manifest["counts"]["task_versions"] += 1
        manifest["release_checksums"]["ai-and-work-v9"] = "0" * 64

    tampered = rewrite(archive, tmp_path / "tampered.tar", change_manifest=inflate)
    versions = TaskVersion.objects.count()

    with pytest.raises(CommandError) as refusal:
        restore(tampered, settings, tmp_path / "restored-media")

    message = str(refusal.value)
    assert f"task versions: expected {versions + 1}, found {versions}" in message
    assert "ai-and-work-v9 missing" in message


def test_a_damaged_file_in_the_archive_is_refused_before_anything_is_written(
    small_world, restored, settings, tmp_path
):
    archive = back_up_to(tmp_path / "backup.tar")
    damaged = rewrite(
        archive,
        tmp_path / "damaged.tar",
        change_member=lambda name, data: data.upper() if name.startswith("media/") else data,
    )

    with pytest.raises(CommandError, match="is damaged"):
        restore(damaged, settings, tmp_path / "restored-media")

    assert tables_of(RESTORED) == []
    assert not [p for p in (tmp_path / "restored-media").rglob("*") if p.is_file()]


def member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE) -> tuple:
    info = tarfile.TarInfo(name)
    info.size, info.type = len(data), kind
    if kind == tarfile.SYMTYPE:
        info.linkname = "/etc/passwd"
    return info, data


@pytest.mark.parametrize(
    ("name", "kind", "refusal"),
    [
        ("media/../../escaped.txt", tarfile.REGTYPE, "not a plain relative name"),
        ("/tmp/escaped.txt", tarfile.REGTYPE, "not a plain relative name"),
        ("media/attachments/link.txt", tarfile.SYMTYPE, "not a regular file"),
    ],
)
def test_an_archive_member_that_could_land_outside_media_root_refuses_the_whole_archive(
    small_world, restored, settings, tmp_path, name, kind, refusal
):
    archive = back_up_to(tmp_path / "backup.tar")

    def list_it(manifest: dict) -> None:
        manifest["media"].append({"path": name.removeprefix("media/"), "size": 7, "sha256": ""})

    evil = rewrite(
        archive,
        tmp_path / "evil.tar",
        change_manifest=list_it,
        extra=[member(name, b"escaped", kind)],
    )

    with pytest.raises(CommandError, match=refusal):
        restore(evil, settings, tmp_path / "inner" / "restored-media")

    assert tables_of(RESTORED) == []
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "inner").exists()


def test_a_backup_from_a_newer_migration_state_is_refused(
    small_world, restored, settings, tmp_path
):
    archive = back_up_to(tmp_path / "backup.tar")

    def from_the_future(manifest: dict) -> None:
        manifest["migrations"]["occupations"].append("9999_from_a_later_version")

    newer = rewrite(archive, tmp_path / "newer.tar", change_manifest=from_the_future)

    with pytest.raises(
        CommandError, match=r"newer version .*occupations\.9999_from_a_later_version"
    ):
        restore(newer, settings, tmp_path / "restored-media")
    assert tables_of(RESTORED) == []


def test_an_older_pg_dump_is_refused_with_the_way_out():
    with pytest.raises(backups.BackupError) as refusal:
        backups.check_pg_dump_version(15, 17)

    assert str(refusal.value).startswith(
        "pg_dump 15 cannot dump a PostgreSQL 17 server; run it with a matching client, "
        "e.g. docker compose exec postgres pg_dump"
    )
    backups.check_pg_dump_version(17, 17)
    backups.check_pg_dump_version(17, 15)


@pytest.mark.skipif(not ON_POSTGRESQL, reason="needs DATABASE_URL to name a PostgreSQL server")
def test_a_backup_with_a_pg_dump_older_than_the_server_stops_before_writing(
    small_world, tmp_path, monkeypatch
):
    server = connection.pg_version // 10000
    monkeypatch.setattr(backups, "pg_dump_major_version", lambda: server - 1)

    with pytest.raises(
        CommandError, match=f"pg_dump {server - 1} cannot dump a PostgreSQL {server}"
    ):
        back_up(tmp_path / "backup.tar")

    assert sorted(p.name for p in tmp_path.iterdir()) == ["media"]


# --- who may read an archive, and races for its name ---------------------------------------


def test_an_archive_is_readable_by_its_owner_only_whatever_the_umask(small_world, tmp_path):
    previous = os.umask(0o022)
    try:
        archive = back_up_to(tmp_path / "backup.tar")
    finally:
        os.umask(previous)

    assert stat.S_IMODE(archive.stat().st_mode) == 0o600


def test_a_file_that_takes_the_name_during_the_backup_is_never_replaced(
    small_world, tmp_path, monkeypatch
):
    destination = tmp_path / "backup.tar"
    media_files = backups._media_files

    def another_backup_finishes_first(media_root):
        destination.write_bytes(b"the other backup")
        return media_files(media_root)

    monkeypatch.setattr(backups, "_media_files", another_backup_finishes_first)

    with pytest.raises(CommandError, match="already exists"):
        back_up(destination)

    assert destination.read_bytes() == b"the other backup"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.tar", "media"]


# --- the audit trail of backups and restores -------------------------------------------------


def outcomes(action: str, using: str = "default") -> list[str]:
    return list(
        AuditEvent.objects.using(using)
        .filter(action=action)
        .order_by("pk")
        .values_list("outcome", flat=True)
    )


def test_a_failed_backup_is_recorded_as_failed(small_world, tmp_path, monkeypatch):
    existing = tmp_path / "backup.tar"
    existing.write_bytes(b"an older backup")
    with pytest.raises(CommandError):
        back_up(existing)

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(backups, "_media_files", fail)
    with pytest.raises(OSError, match="disk full"):
        back_up(tmp_path / "new.tar")

    assert outcomes(AuditEvent.Action.BACKUP) == ["failed", "failed"]
    event = AuditEvent.objects.filter(action=AuditEvent.Action.BACKUP).latest("pk")
    assert event.details == {"file": str(tmp_path / "new.tar"), "error": "OSError"}


def test_a_restore_checks_the_audit_trail_and_is_recorded_after_it(
    small_world, restored, settings, tmp_path
):
    archive = back_up_to(tmp_path / "backup.tar")
    events_in_backup = AuditEvent.objects.exclude(action=AuditEvent.Action.BACKUP).count()

    output = restore(archive, settings, tmp_path / "restored-media")

    assert "audit events" in output and "last audit event id" in output
    assert "MISMATCH" not in output
    restored_events = AuditEvent.objects.using(RESTORED)
    assert restored_events.count() == events_in_backup + 1
    assert outcomes(AuditEvent.Action.RESTORE, RESTORED) == ["success"]
    assert not restored_events.filter(action=AuditEvent.Action.BACKUP).exists()


def test_a_restore_that_lost_audit_events_fails_its_checks(
    small_world, restored, settings, tmp_path
):
    archive = back_up_to(tmp_path / "backup.tar")

    def more_events(manifest: dict) -> None:
        manifest["audit_trail"]["events"] += 1
        manifest["audit_trail"]["last_event_id"] += 1

    tampered = rewrite(archive, tmp_path / "tampered.tar", change_manifest=more_events)

    with pytest.raises(CommandError, match="audit events: expected") as refusal:
        restore(tampered, settings, tmp_path / "restored-media")

    assert "last audit event id: expected" in str(refusal.value)
    event = AuditEvent.objects.using(RESTORED).get(action=AuditEvent.Action.RESTORE)
    assert event.outcome == "failed"
    assert event.details["mismatches"] == ["audit events", "last audit event id"]


@pytest.fixture
def without_the_audit_trail(small_world) -> Iterator[None]:
    """The database as it was before the audit trail existed, for as long as the test runs."""
    call_command("migrate", "audit", "zero", verbosity=0)
    try:
        yield
    finally:
        call_command("migrate", "audit", verbosity=0)


def test_a_backup_from_before_the_audit_trail_restores_and_asks_for_migrate(
    without_the_audit_trail, restored, settings, tmp_path
):
    made = back_up(tmp_path / "backup.tar")
    assert "Not recorded in the audit trail" in made
    # Made by code that did not know the audit trail: no such key in its manifest.
    older = rewrite(
        tmp_path / "backup.tar",
        tmp_path / "older.tar",
        change_manifest=lambda manifest: manifest.pop("audit_trail"),
    )

    output = restore(older, settings, tmp_path / "restored-media")

    assert "run `manage.py migrate` next" in output
    assert output.index("manage.py migrate") < output.index("Restored")
    assert "This restore is not in the audit trail" in output
    assert AuditEvent._meta.db_table not in tables_of(RESTORED)


def truncated_dump(archive: Path, target: Path) -> Path:
    """A copy of the archive whose database dump stops halfway, with a manifest that matches
    it, as a backup damaged before its manifest was written would be."""
    with tarfile.open(archive) as members:
        manifest = json.loads(members.extractfile(backups.MANIFEST_NAME).read())
        dump = members.extractfile(manifest["database"]["file"]).read()
    half = dump[: len(dump) // 2]

    def describe_half(manifest: dict) -> None:
        manifest["database"].update(size=len(half), sha256=hashlib.sha256(half).hexdigest())

    return rewrite(
        archive,
        target,
        change_manifest=describe_half,
        change_member=lambda name, data: half if name == manifest["database"]["file"] else data,
    )


def test_a_replace_that_fails_leaves_the_old_data_in_place(
    small_world, restored, settings, tmp_path
):
    archive = back_up_to(tmp_path / "backup.tar")
    restore(archive, settings, tmp_path / "restored-media")
    Attachment.objects.using(RESTORED).filter(pk=small_world.attachment.pk).update(
        original_name="kept when the restore fails"
    )
    broken = truncated_dump(archive, tmp_path / "broken.tar")

    with pytest.raises(CommandError, match="nothing was changed"):
        restore(broken, settings, tmp_path / "restored-media", "--replace")

    kept = Attachment.objects.using(RESTORED).get(pk=small_world.attachment.pk)
    assert kept.original_name == "kept when the restore fails"
    assert TaskVersion.objects.using(RESTORED).count() == TaskVersion.objects.count()
    assert outcomes(AuditEvent.Action.RESTORE, RESTORED) == ["success", "failed"]

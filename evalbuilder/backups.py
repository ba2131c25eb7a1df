"""Backups of a whole installation, and their restore.

A backup is one tar archive: the database (a `pg_dump` custom-format dump on PostgreSQL, a
copy made with SQLite's online backup API on SQLite), every uploaded file under MEDIA_ROOT,
and `manifest.json`, which records when it was made, the migrations applied per app, how
many task versions, grades, releases and attachments the database held, every release's
checksum, and the size and SHA-256 of every file in the archive. A restore checks the
archive against its manifest before it writes anything, and the restored database against
the manifest afterwards. docs/backups.md describes how to use them.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Model

from audit import trail
from audit.models import AuditEvent
from graders.models import Grade
from occupations.models import Attachment, RubricCriterion, Task, TaskVersion
from reports import releases
from reports.models import Release
from runs.models import Run, Sample

FORMAT = "evalbuilder-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
MEDIA_PREFIX = "media/"
DUMP_NAMES = {"postgresql": "database.pgdump", "sqlite": "database.sqlite3"}
CHUNK_BYTES = 1024 * 1024

Log = Callable[[str], None]


class BackupError(Exception):
    """A backup or restore that was refused or failed; the message says why and what to do."""


def _counted_models() -> dict[str, type[Model]]:
    """The records whose numbers a backup records and a restore must find again."""
    return {
        "users": get_user_model(),
        "tasks": Task,
        "task_versions": TaskVersion,
        "rubric_criteria": RubricCriterion,
        "attachments": Attachment,
        "runs": Run,
        "samples": Sample,
        "grades": Grade,
        "releases": Release,
    }


@dataclass(frozen=True)
class DatabaseFacts:
    """What a database holds, as far as a backup promises to bring it back."""

    migrations: dict[str, list[str]]
    """Applied migrations per app, sorted by name."""
    counts: dict[str, int]
    """Rows per counted kind of record (see _counted_models)."""
    release_checksums: dict[str, str]
    """Every release's checksum (blank while being prepared), by identifier."""
    attachment_files: dict[str, str]
    """Every attachment's stored file name under MEDIA_ROOT, with its recorded SHA-256."""
    audit_trail: dict[str, int | None] | None = None
    """How many audit events there are and the highest event id; None for a database whose
    audit trail was never migrated (one from before the audit trail existed)."""


@dataclass(frozen=True)
class Check:
    """One comparison of the restored installation with the manifest."""

    what: str
    expected: str
    found: str

    @property
    def ok(self) -> bool:
        return self.expected == self.found


@dataclass
class RestoreReport:
    """What a restore compared, and what the code has that the backup did not."""

    checks: list[Check] = field(default_factory=list)
    unapplied_migrations: list[str] = field(default_factory=list)
    """Migrations this code has that the backup's database had not applied (run migrate)."""

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def mismatches(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]


# --- reading a database ------------------------------------------------------------------


def _quote(name: str) -> str:
    # Both PostgreSQL and SQLite take double-quoted identifiers; names come from Django models.
    return '"' + name.replace('"', '""') + '"'


def read_facts(cursor: Any) -> DatabaseFacts:
    """The facts of the database behind a DB-API cursor (Django's, sqlite3's or psycopg's).

    Plain SQL without parameters, so that it reads a dump's copy, an exported snapshot or a
    restored database alike.
    """
    cursor.execute("SELECT app, name FROM django_migrations")
    migrations: dict[str, list[str]] = {}
    for app, name in cursor.fetchall():
        migrations.setdefault(app, []).append(name)
    counts = {}
    for key, model in _counted_models().items():
        cursor.execute(f"SELECT COUNT(*) FROM {_quote(model._meta.db_table)}")
        counts[key] = int(cursor.fetchone()[0])
    identifier = Release._meta.get_field("identifier").column
    checksum = Release._meta.get_field("checksum").column
    cursor.execute(
        f"SELECT {_quote(identifier)}, {_quote(checksum)} FROM {_quote(Release._meta.db_table)}"
    )
    release_checksums = {row[0]: row[1] for row in cursor.fetchall()}
    file_column = Attachment._meta.get_field("file").column
    sha_column = Attachment._meta.get_field("sha256").column
    cursor.execute(
        f"SELECT {_quote(file_column)}, {_quote(sha_column)} "
        f"FROM {_quote(Attachment._meta.db_table)}"
    )
    attachment_files = {row[0]: row[1] for row in cursor.fetchall()}
    audit_trail = None
    if AuditEvent._meta.app_label in migrations:  # its table exists from its first migration
        cursor.execute(
            f"SELECT COUNT(*), MAX({_quote(AuditEvent._meta.pk.column)}) "
            f"FROM {_quote(AuditEvent._meta.db_table)}"
        )
        events, last_id = cursor.fetchone()
        audit_trail = {"events": int(events), "last_event_id": last_id}
    return DatabaseFacts(
        migrations={app: sorted(names) for app, names in sorted(migrations.items())},
        counts=counts,
        release_checksums=dict(sorted(release_checksums.items())),
        attachment_files=dict(sorted(attachment_files.items())),
        audit_trail=audit_trail,
    )


def _vendor(connection: BaseDatabaseWrapper) -> str:
    if connection.vendor not in DUMP_NAMES:
        raise BackupError(
            f"database '{connection.alias}' is {connection.vendor}; backups support PostgreSQL "
            "and SQLite"
        )
    return connection.vendor


def _describe(connection: BaseDatabaseWrapper) -> str:
    """The database in words, for messages: never its password."""
    config = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"SQLite file {config['NAME']}"
    where = f"{config.get('HOST') or 'local socket'}" + (
        f":{config['PORT']}" if config.get("PORT") else ""
    )
    return f"PostgreSQL database '{config['NAME']}' on {where}"


# --- PostgreSQL client tools -----------------------------------------------------------

# libpq environment variables for the connection OPTIONS that the client tools understand.
LIBPQ_OPTIONS = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "service": "PGSERVICE",
}


def _client(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise BackupError(
            f"{tool} is not installed: install the PostgreSQL client of the server's major "
            "version (Debian: postgresql-client), or see docs/backups.md for the docker "
            "compose way"
        )
    return path


def client_major_version(tool: str) -> int:
    """The major version of a PostgreSQL client tool, from `<tool> --version`."""
    answer = subprocess.run(
        [_client(tool), "--version"], capture_output=True, text=True, check=False
    )
    found = re.search(r"\(PostgreSQL\)\s+(\d+)", answer.stdout)
    if answer.returncode != 0 or found is None:
        raise BackupError(
            f"could not read the version of {tool}: {answer.stdout.strip() or answer.stderr}"
        )
    return int(found.group(1))


def pg_dump_major_version() -> int:
    return client_major_version("pg_dump")


def pg_restore_major_version() -> int:
    return client_major_version("pg_restore")


def check_pg_dump_version(client_major: int, server_major: int) -> None:
    """pg_dump refuses a server newer than itself; say so before it starts, with the way out."""
    if client_major < server_major:
        raise BackupError(
            f"pg_dump {client_major} cannot dump a PostgreSQL {server_major} server; run it "
            "with a matching client, e.g. docker compose exec postgres pg_dump -U evalbuilder "
            "-Fc evalbuilder > db.dump (see docs/backups.md)"
        )


def _client_connection(connection: BaseDatabaseWrapper) -> tuple[list[str], dict[str, str]]:
    """Connection arguments and environment for pg_dump and pg_restore.

    The password goes in the child's environment (PGPASSWORD), never on its command line,
    where any user of the machine could read it.
    """
    config = connection.settings_dict
    arguments = ["--no-password"]
    if config.get("HOST"):
        arguments.append(f"--host={config['HOST']}")
    if config.get("PORT"):
        arguments.append(f"--port={config['PORT']}")
    if config.get("USER"):
        arguments.append(f"--username={config['USER']}")
    environment = dict(os.environ)
    environment.pop("PGPASSWORD", None)
    if config.get("PASSWORD"):
        environment["PGPASSWORD"] = str(config["PASSWORD"])
    for option, variable in LIBPQ_OPTIONS.items():
        if option in config.get("OPTIONS", {}):
            environment[variable] = str(config["OPTIONS"][option])
    return arguments, environment


def _run_client(command: list[str], environment: dict[str, str], what: str) -> None:
    answer = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if answer.returncode != 0:
        detail = (answer.stderr or answer.stdout).strip()
        raise BackupError(f"{what} failed (exit {answer.returncode}): {detail}")


def _server_major(connection: BaseDatabaseWrapper) -> int:
    connection.ensure_connection()
    return connection.pg_version // 10000


# --- backup --------------------------------------------------------------------------------


def _dump_postgresql(
    connection: BaseDatabaseWrapper, target: Path
) -> tuple[dict[str, Any], DatabaseFacts]:
    pg_dump = _client("pg_dump")
    client_major = pg_dump_major_version()
    server_major = _server_major(connection)
    check_pg_dump_version(client_major, server_major)
    if connection.in_atomic_block:
        raise BackupError("a backup cannot be taken inside a transaction")
    arguments, environment = _client_connection(connection)
    # The facts and the dump come from one exported snapshot, so the manifest describes
    # exactly what was dumped even while the application goes on writing.
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        facts = read_facts(cursor)
        _run_client(
            [
                pg_dump,
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--snapshot={snapshot}",
                f"--file={target}",
                *arguments,
                f"--dbname={connection.settings_dict['NAME']}",
            ],
            environment,
            "pg_dump",
        )
    database = {
        "vendor": "postgresql",
        "server_version": connection.pg_version,
        "dump_tool": "pg_dump",
        "dump_tool_major": client_major,
    }
    return database, facts


def _dump_sqlite(
    connection: BaseDatabaseWrapper, target: Path
) -> tuple[dict[str, Any], DatabaseFacts]:
    name = str(connection.settings_dict["NAME"])
    if name == ":memory:" or name.startswith("file:") or not Path(name).is_file():
        raise BackupError(f"the SQLite database {name} is not a file that can be backed up")
    # A connection of our own sees only committed data; the backup API copies a consistent
    # image even while the web server and worker write to the file.
    source = sqlite3.connect(name)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
        facts = read_facts(copy.cursor())
    finally:
        copy.close()
        source.close()
    return {"vendor": "sqlite", "sqlite_version": sqlite3.sqlite_version}, facts


class _HashingReader:
    """Reads a file for tarfile while hashing exactly the bytes that go into the archive."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.sha256.update(data)
        return data


def _tar_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = int(datetime.datetime.now(tz=datetime.UTC).timestamp())
    return info


def _add_file(archive: tarfile.TarFile, path: Path, name: str) -> dict[str, Any]:
    with path.open("rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        reader = _HashingReader(stream)
        archive.addfile(_tar_info(name, size), reader)  # type: ignore[arg-type]
    return {"size": size, "sha256": reader.sha256.hexdigest()}


def _media_files(media_root: Path) -> Iterable[tuple[str, Path]]:
    """Every regular file under MEDIA_ROOT, by its name relative to it; links are not followed."""
    if not media_root.is_dir():
        return
    for folder, subfolders, files in os.walk(media_root):
        subfolders.sort()
        for file_name in sorted(files):
            path = Path(folder) / file_name
            if path.is_file() and not path.is_symlink():
                yield path.relative_to(media_root).as_posix(), path


def create_backup(
    destination: Path | str,
    *,
    using: str = "default",
    media_root: Path | str | None = None,
    log: Log = lambda message: None,
) -> dict[str, Any]:
    """Write a backup archive of the database `using` and MEDIA_ROOT to `destination`.

    The archive is written under a temporary name beside it, readable by its owner only, and
    linked to its name when complete, so `destination` is either a whole backup or absent,
    and a file that appears under that name meanwhile is never replaced. Returns the manifest.
    """
    destination = Path(destination)
    media_root = Path(media_root if media_root is not None else settings.MEDIA_ROOT)
    if destination.exists():
        raise BackupError(f"{destination} already exists; name a new file for each backup")
    if not destination.parent.is_dir():
        raise BackupError(f"{destination.parent} is not a folder")
    connection = connections[using]
    vendor = _vendor(connection)
    partial = destination.with_name(
        f".{destination.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
    )
    try:
        with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".backup-") as staging:
            dump = Path(staging) / DUMP_NAMES[vendor]
            log(f"Dumping the {_describe(connection)}")
            dumper = _dump_postgresql if vendor == "postgresql" else _dump_sqlite
            database, facts = dumper(connection, dump)
            # 0o600 whatever the umask: the archive holds held-out tasks and password hashes.
            descriptor = os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            with (
                os.fdopen(descriptor, "wb") as stream,
                tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as archive,
            ):
                database.update(file=dump.name, **_add_file(archive, dump, dump.name))
                log(f"Adding the uploaded files under {media_root}")
                media = [
                    {"path": relative, **_add_file(archive, path, MEDIA_PREFIX + relative)}
                    for relative, path in _media_files(media_root)
                ]
                archived = {item["path"]: item["sha256"] for item in media}
                manifest = {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "created_at": datetime.datetime.now(tz=datetime.UTC).isoformat(),
                    "database": database,
                    "migrations": facts.migrations,
                    "counts": facts.counts,
                    "release_checksums": facts.release_checksums,
                    "audit_trail": facts.audit_trail,
                    "media": media,
                    # Attachments whose file was already gone or altered when the backup was
                    # taken: a restore cannot bring them back and does not expect them.
                    "attachments_without_file": sorted(
                        name
                        for name, sha256 in facts.attachment_files.items()
                        if archived.get(name) != sha256
                    ),
                }
                encoded = json.dumps(manifest, indent=2, sort_keys=True).encode()
                archive.addfile(_tar_info(MANIFEST_NAME, len(encoded)), _BytesReader(encoded))
                archive.close()  # writes the end-of-archive blocks, before the fsync
                stream.flush()
                os.fsync(stream.fileno())
        _publish(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    for name in manifest["attachments_without_file"]:
        log(f"Warning: the file of attachment {name} is missing or altered in {media_root}")
    return manifest


def _publish(partial: Path, destination: Path) -> None:
    """Give the finished archive its name, never replacing a file that took the name since
    the backup began, and make the new name durable."""
    try:
        os.link(partial, destination)  # fails, atomically, where the name is taken
    except FileExistsError as error:
        raise BackupError(
            f"{destination} already exists; name a new file for each backup"
        ) from error
    except OSError:
        # A file system without hard links: claim the name first, then move the archive onto
        # the empty file that holds it.
        try:
            os.close(os.open(destination, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError as error:
            raise BackupError(
                f"{destination} already exists; name a new file for each backup"
            ) from error
        try:
            os.replace(partial, destination)
        except BaseException:
            destination.unlink(missing_ok=True)
            raise
    _fsync_folder(destination.parent)


def _fsync_folder(folder: Path) -> None:
    """Write a folder's entries to disk, so that a crash cannot lose a name just given."""
    descriptor = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self.data, self.offset = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.offset + size
        chunk, self.offset = self.data[self.offset : end], min(end, len(self.data))
        return chunk


# --- reading an archive ------------------------------------------------------------------


def _checked_members(archive: tarfile.TarFile, source: Path) -> dict[str, tarfile.TarInfo]:
    """The archive's members by name, after refusing anything a backup never holds.

    A backup holds only regular files with plain relative names: a link, a device, an
    absolute name or a `..` could write outside MEDIA_ROOT, so the whole archive is refused.
    """
    members: dict[str, tarfile.TarInfo] = {}
    for member in archive.getmembers():
        name = member.name
        parts = PurePosixPath(name).parts
        if (
            not name
            or name.startswith("/")
            or "\\" in name
            or "\x00" in name
            or any(part in ("", ".", "..") for part in name.split("/"))
        ):
            raise BackupError(f"{source}: refused member '{name}': not a plain relative name")
        if member.isdir():
            continue
        if not member.isreg():
            raise BackupError(f"{source}: refused member '{name}': not a regular file")
        if name in members:
            raise BackupError(f"{source}: member '{name}' appears twice")
        if not (name == MANIFEST_NAME or name in DUMP_NAMES.values() or parts[0] == "media"):
            raise BackupError(f"{source}: unexpected member '{name}'")
        members[name] = member
    return members


def _manifest_field(manifest: dict[str, Any], key: str, kind: type, source: Path) -> Any:
    value = manifest.get(key)
    if not isinstance(value, kind):
        raise BackupError(f"{source}: {MANIFEST_NAME} has no valid '{key}'")
    return value


def read_manifest(archive: tarfile.TarFile, members: dict[str, tarfile.TarInfo], source: Path):
    if MANIFEST_NAME not in members:
        raise BackupError(f"{source} has no {MANIFEST_NAME}: it is not an evalbuilder backup")
    stream = archive.extractfile(members[MANIFEST_NAME])
    assert stream is not None  # a regular file, checked above
    try:
        manifest = json.loads(stream.read())
    except ValueError as error:
        raise BackupError(f"{source}: {MANIFEST_NAME} is not valid JSON: {error}") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{source}: {MANIFEST_NAME} is not an evalbuilder backup manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"{source}: backup format version {manifest.get('format_version')} is not "
            f"{FORMAT_VERSION}, the one this code reads"
        )
    for key, kind in (
        ("database", dict),
        ("migrations", dict),
        ("counts", dict),
        ("release_checksums", dict),
        ("media", list),
        ("attachments_without_file", list),
    ):
        _manifest_field(manifest, key, kind, source)
    for key in ("vendor", "file", "sha256", "size"):
        if key not in manifest["database"]:
            raise BackupError(f"{source}: {MANIFEST_NAME} has no database '{key}'")
    # Absent from backups made before the audit trail was counted; null without an audit trail.
    audit_trail = manifest.setdefault("audit_trail", None)
    if audit_trail is not None and not (
        isinstance(audit_trail, dict) and {"events", "last_event_id"} <= audit_trail.keys()
    ):
        raise BackupError(f"{source}: {MANIFEST_NAME} has no valid 'audit_trail'")
    return manifest


def _expected_files(manifest: dict[str, Any], source: Path) -> dict[str, dict[str, Any]]:
    """Every archive member the manifest lists, with its size and SHA-256."""
    expected = {manifest["database"]["file"]: manifest["database"]}
    for item in manifest["media"]:
        if (
            not isinstance(item, dict)
            or not {"path", "size", "sha256"} <= item.keys()
            or not isinstance(item["path"], str)
        ):
            raise BackupError(
                f"{source}: {MANIFEST_NAME} has a media entry without path, size and sha256"
            )
        expected[MEDIA_PREFIX + item["path"]] = item
    return expected


def _check_listing(
    members: dict[str, tarfile.TarInfo], expected: dict[str, dict[str, Any]], source: Path
) -> None:
    held = set(members) - {MANIFEST_NAME}
    if missing := sorted(set(expected) - held):
        raise BackupError(f"{source}: the manifest lists files the archive lacks: {missing}")
    if extra := sorted(held - set(expected)):
        raise BackupError(f"{source}: the archive holds files its manifest does not list: {extra}")
    for name, item in expected.items():
        if members[name].size != item["size"]:
            raise BackupError(
                f"{source}: {name} has {members[name].size} bytes; the manifest says {item['size']}"
            )


def known_migrations() -> set[tuple[str, str]]:
    """Every migration this code has, applied or not."""
    return set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)


def _refuse_newer_migrations(manifest: dict[str, Any], source: Path) -> list[str]:
    """Refuse a backup made by code with migrations this code lacks; return ours it lacks."""
    recorded = {(app, name) for app, names in manifest["migrations"].items() for name in names}
    known = known_migrations()
    if unknown := sorted(recorded - known):
        listed = ", ".join(f"{app}.{name}" for app, name in unknown)
        raise BackupError(
            f"{source} comes from a newer version of evalbuilder: its database has migrations "
            f"this code does not know ({listed}); restore it with that version or a later one"
        )
    return [f"{app}.{name}" for app, name in sorted(known - recorded)]


def _extract_verified(
    archive: tarfile.TarFile, member: tarfile.TarInfo, target: Path, sha256: str
) -> None:
    """Write one member to `target`, refusing it (and removing what was written) when its
    bytes differ from the manifest's SHA-256."""
    stream = archive.extractfile(member)
    assert stream is not None
    digest = hashlib.sha256()
    with target.open("wb") as written:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
            written.write(chunk)
    if digest.hexdigest() != sha256:
        target.unlink()
        raise BackupError(f"{member.name} is damaged: its SHA-256 differs from the manifest's")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


# --- the audit trail -------------------------------------------------------------------------


def audit_trail_ready(using: str = "default") -> bool:
    """Whether the database `using` has every audit migration this code has, so that an event
    can be recorded in it: not so for an empty database, one restored from a backup made
    before the audit trail existed (until `manage.py migrate`), or one that cannot be reached.
    """
    app = AuditEvent._meta.app_label
    needed = {name for label, name in known_migrations() if label == app}
    try:
        recorder = MigrationRecorder(connections[using])
        if not recorder.has_table():
            return False
        applied = {name for label, name in recorder.applied_migrations() if label == app}
    except DatabaseError:
        return False
    return needed <= applied


def record_in_trail(action: str, *, using: str, details: dict, outcome: str = "success") -> bool:
    """Record a backup or restore in the audit trail of the database `using`, where it has
    one; False where it has none (see audit_trail_ready)."""
    if not audit_trail_ready(using):
        return False
    trail.record(action, outcome=outcome, details=details, using=using)
    return True


# --- restore ------------------------------------------------------------------------------


def _inside(root: Path, relative: str) -> Path:
    target = root / PurePosixPath(relative)
    if not target.resolve().is_relative_to(root.resolve()):
        raise BackupError(f"refused media file '{relative}': it would land outside {root}")
    return target


def _check_pg_restore_version(manifest: dict[str, Any]) -> None:
    _client("psql")  # loads what pg_restore writes, in one transaction with any DROP
    _client("pg_restore")
    client_major = pg_restore_major_version()
    made_by = int(manifest["database"].get("dump_tool_major", 0))
    if client_major < made_by:
        raise BackupError(
            f"pg_restore {client_major} cannot read a dump made by pg_dump {made_by}; run it "
            "with a matching client (see docs/backups.md)"
        )


@dataclass(frozen=True)
class SchemaObject:
    """Something in the target database that a restore would collide with."""

    kind: str
    """What DROP calls it: TABLE, VIEW, SEQUENCE, ROUTINE, AGGREGATE or TYPE."""
    name: str
    """As PostgreSQL's DROP takes it: an identifier quoted where needed, or a routine's
    signature."""

    def __str__(self) -> str:
        return f"{self.kind.lower()} {self.name}"


# Everything in the current schema that a dump could also create, leaving out what belongs
# to an extension: tables (their indexes, constraints, triggers and the sequences of their
# serial and identity columns go with them), views, other sequences, routines (a trigger's
# function, say) and types.
POSTGRESQL_OBJECTS = """
WITH here AS (SELECT oid FROM pg_namespace WHERE nspname = current_schema()),
extension_members AS (SELECT objid FROM pg_depend WHERE deptype = 'e')
SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                      WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
       quote_ident(c.relname)
  FROM pg_class c
 WHERE c.relnamespace = (SELECT oid FROM here)
   AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
   AND c.oid NOT IN (SELECT objid FROM extension_members)
   AND NOT (c.relkind = 'S'
            AND c.oid IN (SELECT objid FROM pg_depend WHERE deptype IN ('a', 'i')))
UNION ALL
SELECT CASE p.prokind WHEN 'a' THEN 'AGGREGATE' ELSE 'ROUTINE' END, p.oid::regprocedure::text
  FROM pg_proc p
 WHERE p.pronamespace = (SELECT oid FROM here)
   AND p.oid NOT IN (SELECT objid FROM extension_members)
UNION ALL
SELECT 'TYPE', quote_ident(t.typname)
  FROM pg_type t
 WHERE t.typnamespace = (SELECT oid FROM here)
   AND t.typtype IN ('e', 'd', 'r', 'm')
   AND t.oid NOT IN (SELECT objid FROM extension_members)
"""


# Dependants first; CASCADE takes care of the rest.
DROP_ORDER = ("MATERIALIZED VIEW", "VIEW", "TABLE", "SEQUENCE", "ROUTINE", "AGGREGATE", "TYPE")


def schema_objects(connection: BaseDatabaseWrapper) -> list[SchemaObject]:
    """What the target database already holds; a restore needs it to hold nothing."""
    if connection.vendor != "postgresql":
        names = connection.introspection.table_names(include_views=True)
        return [SchemaObject("TABLE", name) for name in names]
    with connection.cursor() as cursor:
        cursor.execute(POSTGRESQL_OBJECTS)
        found = [SchemaObject(kind, name) for kind, name in cursor.fetchall()]
    return sorted(found, key=lambda item: (DROP_ORDER.index(item.kind), item.name))


def _drop_statements(objects: list[SchemaObject]) -> str:
    # IF EXISTS: a CASCADE earlier in the list may already have taken an object with it.
    statements = []
    for kind in DROP_ORDER:
        names = [o.name for o in objects if o.kind == kind]
        if names:
            statements.append(f"DROP {kind} IF EXISTS {', '.join(names)} CASCADE;\n")
    return "".join(statements)


def _restore_postgresql(
    connection: BaseDatabaseWrapper, dump: Path, objects: list[SchemaObject]
) -> None:
    """Drop `objects` and load the dump in one transaction: all of it, or nothing changes.

    pg_restore turns the dump into SQL, which goes to psql after the DROP statements, in one
    session, between a BEGIN and a COMMIT that is sent only once pg_restore has finished
    without error. A failure anywhere (pg_restore, a statement, the connection) ends the
    session with the transaction open, which the server rolls back: the old data stay.
    """
    pg_restore, psql = _client("pg_restore"), _client("psql")
    arguments, environment = _client_connection(connection)
    with tempfile.TemporaryFile() as restore_errors, tempfile.TemporaryFile() as load_errors:
        script = subprocess.Popen(
            [pg_restore, "--exit-on-error", "--no-owner", "--no-privileges", "--file=-", str(dump)],
            stdout=subprocess.PIPE,
            stderr=restore_errors,
            env=environment,
        )
        load = subprocess.Popen(
            [
                psql,
                "--no-psqlrc",
                "--quiet",
                "--set=ON_ERROR_STOP=1",
                *arguments,
                f"--dbname={connection.settings_dict['NAME']}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=load_errors,
            env=environment,
        )
        assert script.stdout is not None and load.stdin is not None
        try:
            try:
                load.stdin.write(f"BEGIN;\n{_drop_statements(objects)}".encode())
                shutil.copyfileobj(script.stdout, load.stdin, CHUNK_BYTES)
                if script.wait() == 0:
                    load.stdin.write(b"COMMIT;\n")
                else:
                    load.stdin.write(b"ROLLBACK;\n")
                load.stdin.close()
            except BrokenPipeError:
                pass  # psql stopped at a failed statement; its error is read below
            load.wait()
        finally:
            for process in (script, load):
                if process.poll() is None:
                    process.kill()
                    process.wait()
            script.stdout.close()
        if script.returncode != 0:
            raise BackupError(
                f"pg_restore failed (exit {script.returncode}), nothing was changed: "
                f"{_read_errors(restore_errors)}"
            )
        if load.returncode != 0:
            raise BackupError(
                f"psql failed (exit {load.returncode}) loading the dump, nothing was changed: "
                f"{_read_errors(load_errors)}"
            )


def _read_errors(stream: IO[bytes]) -> str:
    stream.seek(0)
    return stream.read().decode(errors="replace").strip()


def _restore_sqlite(connection: BaseDatabaseWrapper, dump: Path) -> None:
    # The backup API replaces the target's whole content in one step: the copy's tables and
    # nothing else, and no half-restored file if it fails.
    connection.ensure_connection()
    source = sqlite3.connect(dump)
    try:
        if (answer := source.execute("PRAGMA quick_check").fetchone()[0]) != "ok":
            raise BackupError(f"the SQLite copy in the backup is damaged: {answer}")
        source.backup(connection.connection)
    except sqlite3.Error as error:
        raise BackupError(
            f"the SQLite copy could not be restored, nothing was changed: {error}"
        ) from error
    finally:
        source.close()


def restore_backup(
    source: Path | str,
    *,
    using: str = "default",
    media_root: Path | str | None = None,
    replace: bool = False,
    log: Log = lambda message: None,
) -> RestoreReport:
    """Restore a backup archive into the database `using` and MEDIA_ROOT, then compare what
    was restored with the manifest.

    The database must be empty unless `replace` is given, in which case everything in it is
    dropped first (and named in the log). Everything about the archive is checked
    before anything is written: its members, its manifest, each file's SHA-256, and that it
    comes from migrations this code knows.
    """
    source = Path(source)
    media_root = Path(media_root if media_root is not None else settings.MEDIA_ROOT)
    if not source.is_file():
        raise BackupError(f"{source} is not a file")
    try:
        with tarfile.open(source, "r:") as archive:
            manifest, unapplied = _restore_archive(
                archive, source, connections[using], media_root, replace=replace, log=log
            )
    except tarfile.TarError as error:
        raise BackupError(f"{source} is not a readable tar archive: {error}") from error
    report = verify_restore(manifest, using=using, media_root=media_root)
    report.unapplied_migrations = unapplied
    return report


def _restore_archive(
    archive: tarfile.TarFile,
    source: Path,
    connection: BaseDatabaseWrapper,
    media_root: Path,
    *,
    replace: bool,
    log: Log,
) -> tuple[dict[str, Any], list[str]]:
    vendor = _vendor(connection)
    members = _checked_members(archive, source)
    manifest = read_manifest(archive, members, source)
    _check_listing(members, _expected_files(manifest, source), source)
    for item in manifest["media"]:
        _inside(media_root, item["path"])
    unapplied = _refuse_newer_migrations(manifest, source)
    if manifest["database"]["vendor"] != vendor:
        raise BackupError(
            f"{source} holds a {manifest['database']['vendor']} database; the target is "
            f"the {_describe(connection)}"
        )
    if vendor == "postgresql":
        _check_pg_restore_version(manifest)
    objects = schema_objects(connection)
    if objects and not replace:
        raise BackupError(
            f"the {_describe(connection)} is not empty ({_tally(objects)}); restore into an "
            "empty database, or give --replace to drop everything in it first"
        )
    conflicts = [
        item["path"]
        for item in manifest["media"]
        if (media_root / item["path"]).exists()
        and _file_sha256(media_root / item["path"]) != item["sha256"]
    ]
    if conflicts and not replace:
        raise BackupError(
            f"{len(conflicts)} files in {media_root} differ from the backup's "
            f"({', '.join(conflicts[:5])}); give --replace to overwrite them"
        )

    database = manifest["database"]
    with tempfile.TemporaryDirectory(prefix="evalbuilder-restore-") as staging:
        dump = Path(staging) / database["file"]
        _extract_verified(archive, members[database["file"]], dump, database["sha256"])
        media_root.mkdir(parents=True, exist_ok=True)
        # Staged inside MEDIA_ROOT, so that moving each file into place is a rename.
        with tempfile.TemporaryDirectory(dir=media_root, prefix=".restore-") as media_staging:
            staged = Path(media_staging)
            # Every file is checked against the manifest before the database is touched.
            for index, item in enumerate(manifest["media"]):
                member = members[MEDIA_PREFIX + item["path"]]
                _extract_verified(archive, member, staged / str(index), item["sha256"])
            if objects:
                log(
                    f"--replace: dropping everything in the {_describe(connection)} "
                    f"({_tally(objects)}): {', '.join(map(str, objects))}"
                )
            if conflicts:
                log(f"--replace: overwriting {len(conflicts)} files: {', '.join(conflicts)}")
            log(f"Restoring the database into the {_describe(connection)}")
            if vendor == "postgresql":
                _restore_postgresql(connection, dump, objects)
            else:
                _restore_sqlite(connection, dump)
            log(f"Restoring {len(manifest['media'])} uploaded files into {media_root}")
            for index, item in enumerate(manifest["media"]):
                target = _inside(media_root, item["path"])
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged / str(index), target)
    return manifest, unapplied


def verify_restore(
    manifest: dict[str, Any], *, using: str = "default", media_root: Path | str | None = None
) -> RestoreReport:
    """Compare the database `using` and MEDIA_ROOT with a backup's manifest."""
    media_root = Path(media_root if media_root is not None else settings.MEDIA_ROOT)
    connection = connections[using]
    with connection.cursor() as cursor:
        facts = read_facts(cursor)
    report = RestoreReport()
    for key, expected in manifest["counts"].items():
        report.checks.append(
            Check(key.replace("_", " "), str(expected), str(facts.counts.get(key, "none")))
        )
    report.checks.append(
        _compare(
            "release checksums",
            manifest["release_checksums"],
            facts.release_checksums,
            noun="releases",
        )
    )
    report.checks.append(
        _compare("migrations", manifest["migrations"], facts.migrations, noun="apps")
    )
    if manifest.get("audit_trail") is not None:
        found = facts.audit_trail or {}
        for key, what in (("events", "audit events"), ("last_event_id", "last audit event id")):
            report.checks.append(
                Check(what, str(manifest["audit_trail"][key]), str(found.get(key, "none")))
            )
    # A release whose stored figures no longer give its checksum was altered on the way.
    # Only the fields the checksum covers are read: the code may have added others since.
    sealed = (
        Release.objects.using(using)
        .exclude(checksum="")
        .select_related("supersedes")
        .only(*CHECKSUM_FIELDS)
    )
    altered = sorted(release.identifier for release in sealed if not releases.verify(release))
    report.checks.append(Check("releases whose figures match their checksum", "all", _all(altered)))
    archived = {item["path"]: item["sha256"] for item in manifest["media"]}
    lost = set(manifest["attachments_without_file"])
    unmatched = sorted(
        name
        for name, sha256 in facts.attachment_files.items()
        if name not in lost and (archived.get(name) != sha256 or not (media_root / name).is_file())
    )
    report.checks.append(Check("attachments with their file", "all", _all(unmatched)))
    return report


CHECKSUM_FIELDS = (
    "identifier",
    "title",
    "description",
    "scope",
    "period_start",
    "period_end",
    "disclosure_min_tasks",
    "tables",
    "methodology",
    "supersedes__identifier",
    "correction_reason",
    "changes",
    "checksum",
)


def _compare(what: str, expected: dict[str, Any], found: dict[str, Any], *, noun: str) -> Check:
    """A check of two mappings that names the keys that differ rather than printing both."""
    summary = f"{len(expected)} {noun.removesuffix('s') if len(expected) == 1 else noun}"
    if expected == found:
        return Check(what, summary, summary)
    differences = []
    for key in sorted(set(expected) | set(found)):
        if key not in found:
            differences.append(f"{key} missing")
        elif key not in expected:
            differences.append(f"{key} not in the backup")
        elif expected[key] != found[key]:
            differences.append(f"{key} different")
    return Check(what, summary, f"{len(found)}; " + "; ".join(differences))


def _tally(objects: list[SchemaObject]) -> str:
    kinds: dict[str, int] = {}
    for item in objects:
        kinds[item.kind.lower()] = kinds.get(item.kind.lower(), 0) + 1
    return ", ".join(f"{count} {kind}{'' if count == 1 else 's'}" for kind, count in kinds.items())


def _all(exceptions: list[str]) -> str:
    return "all" if not exceptions else "all but " + ", ".join(exceptions)

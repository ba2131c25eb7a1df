"""`manage.py backup FILE`: the database and the uploaded files in one archive."""

from __future__ import annotations

import contextlib
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError

from audit import trail
from evalbuilder.backups import BackupError, create_backup, record_in_trail


class Command(BaseCommand):
    help = (
        "Write a backup archive (.tar): a dump of the database (pg_dump on PostgreSQL, the "
        "online backup API on SQLite), the uploaded files under MEDIA_ROOT and a manifest. "
        "See docs/backups.md."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="The archive to write; it must not exist.")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="The database to back up.")

    def handle(self, *args, **options) -> None:
        using = options["database"]
        try:
            manifest = create_backup(options["file"], using=using, log=self.stdout.write)
        except Exception as error:
            # The error's text can quote the database; the trail keeps only what kind it was.
            with contextlib.suppress(DatabaseError):  # the error below matters more
                record_in_trail(
                    trail.Action.BACKUP,
                    using=using,
                    outcome=trail.Outcome.FAILED,
                    details={"file": str(options["file"]), "error": type(error).__name__},
                )
            if isinstance(error, BackupError):
                raise CommandError(str(error)) from error
            raise
        counts = ", ".join(f"{n} {key.replace('_', ' ')}" for key, n in manifest["counts"].items())
        self.stdout.write(f"Database: {counts}; {len(manifest['release_checksums'])} checksums")
        self.stdout.write(f"Uploaded files: {len(manifest['media'])}")
        size = options["file"].stat().st_size
        # A backup holds held-out tasks: who made one, and where, belongs in the trail.
        recorded = record_in_trail(
            trail.Action.BACKUP,
            using=using,
            details={"file": str(options["file"]), "bytes": size, "counts": manifest["counts"]},
        )
        if not recorded:
            self.stdout.write(
                self.style.WARNING(
                    "Not recorded in the audit trail: this database has not applied every "
                    "audit migration; run `manage.py migrate`."
                )
            )
        self.stdout.write(self.style.SUCCESS(f"Wrote {options['file']} ({size:,} bytes)"))

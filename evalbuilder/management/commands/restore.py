"""`manage.py restore FILE`: a backup archive back into an empty database and MEDIA_ROOT."""

from __future__ import annotations

import contextlib
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError

from audit import trail
from evalbuilder.backups import BackupError, record_in_trail, restore_backup


class Command(BaseCommand):
    help = (
        "Restore a backup archive made by `manage.py backup` into the database of "
        "DATABASE_URL, which must have no tables (unless --replace), and its uploaded files "
        "into MEDIA_ROOT; then check the restored records against the backup's manifest. "
        "See docs/backups.md."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="The backup archive (.tar).")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Drop every table of the target database first (they are listed), and "
            "overwrite uploaded files that differ from the backup's.",
        )
        parser.add_argument(
            "--database", default=DEFAULT_DB_ALIAS, help="The database to restore into."
        )

    def handle(self, *args, **options) -> None:
        using = options["database"]
        details = {"file": str(options["file"]), "replace": options["replace"]}
        try:
            report = restore_backup(
                options["file"], using=using, replace=options["replace"], log=self.stdout.write
            )
        except Exception as error:
            # Recorded where the database still has a trail: a refused restore, or one rolled
            # back after --replace. The error's text can quote the dump; only its kind is kept.
            with contextlib.suppress(DatabaseError):  # the error below matters more
                record_in_trail(
                    trail.Action.RESTORE,
                    using=using,
                    outcome=trail.Outcome.FAILED,
                    details={**details, "error": type(error).__name__},
                )
            if isinstance(error, BackupError):
                raise CommandError(str(error)) from error
            raise
        width = max(len(check.what) for check in report.checks)
        for check in report.checks:
            mark = self.style.SUCCESS("ok") if check.ok else self.style.ERROR("MISMATCH")
            shown = check.found if check.ok else f"expected {check.expected}, found {check.found}"
            self.stdout.write(f"  {check.what:<{width}}  {shown}  {mark}")
        if report.unapplied_migrations:
            self.stdout.write(
                self.style.WARNING(
                    "This code has migrations the backup had not applied "
                    f"({', '.join(report.unapplied_migrations)}): run `manage.py migrate` next."
                )
            )
        if not report.ok:
            record_in_trail(
                trail.Action.RESTORE,
                using=using,
                outcome=trail.Outcome.FAILED,
                details={**details, "mismatches": [check.what for check in report.mismatches]},
            )
            raise CommandError(
                "the restored data differ from the backup's manifest: "
                + "; ".join(
                    f"{c.what}: expected {c.expected}, found {c.found}" for c in report.mismatches
                )
            )
        # Recorded after the checks, which count the events the backup holds.
        if not record_in_trail(trail.Action.RESTORE, using=using, details=details):
            self.stdout.write(
                self.style.WARNING(
                    "This restore is not in the audit trail: the backup has no audit trail "
                    "table yet (it comes before `manage.py migrate`)."
                )
            )
        self.stdout.write(self.style.SUCCESS(f"Restored {options['file']}; every check passed."))

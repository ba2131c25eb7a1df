from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from evalbuilder.roles import ensure_role_groups
from occupations.seeding import SEED_DIR, SeedError, load_seeds


class Command(BaseCommand):
    help = "Load the taxonomy, example tasks and suites in seeds/ (idempotent, all or nothing)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dir", type=Path, default=SEED_DIR, help="Seed folder to load.")

    def handle(self, *args, **options) -> None:
        try:
            report = load_seeds(options["dir"])
        except SeedError as error:
            raise CommandError(str(error)) from error
        ensure_role_groups()
        self.stdout.write(self.style.SUCCESS(f"Seeds loaded: {report}"))
        for note in report.notes:
            self.stdout.write(self.style.WARNING(note))

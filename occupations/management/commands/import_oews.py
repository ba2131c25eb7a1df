from pathlib import Path

from django.core.management.base import BaseCommand

from occupations.importers.commands import add_common_arguments, importing_user, run_import
from occupations.importers.oews import import_oews


class Command(BaseCommand):
    help = (
        "Import the BLS OEWS national file (XLSX or CSV): employment, mean and median annual "
        "wages of every SOC occupation, with suppressed figures kept as their symbols. All or "
        "nothing; see docs/taxonomies.md."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="national_M2024_dl.xlsx or a CSV of it.")
        parser.add_argument(
            "--taxonomy", default="SOC 2018", help="The SOC taxonomy release to update."
        )
        parser.add_argument(
            "--source",
            help="Label of the figures (default from the file name: 'BLS OEWS May 2024').",
        )
        add_common_arguments(parser)

    def handle(self, *args, **options) -> None:
        user = importing_user(options["username"])
        path: Path = options["file"]

        def do_import():
            return import_oews(
                path.name,
                path.read_bytes(),
                taxonomy=options["taxonomy"],
                source=options["source"],
                dry_run=options["dry_run"],
                user=user,
            )

        run_import(self, path, do_import)

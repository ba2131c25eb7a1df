from pathlib import Path

from django.core.management.base import BaseCommand

from occupations.importers.commands import add_common_arguments, importing_user, run_import
from occupations.importers.crosswalk import import_crosswalk


class Command(BaseCommand):
    help = (
        "Import a crosswalk CSV (source_code,target_code) between two imported taxonomy "
        "releases. All or nothing; see docs/taxonomies.md."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="CSV with columns source_code,target_code.")
        parser.add_argument(
            "--from", dest="source", required=True, help="Source taxonomy, e.g. 'ISCO 08'."
        )
        parser.add_argument(
            "--to", dest="target", required=True, help="Target taxonomy, e.g. 'SOC 2018'."
        )
        parser.add_argument(
            "--replace", action="store_true", help="Remove the crosswalk's links not in the file."
        )
        add_common_arguments(parser)

    def handle(self, *args, **options) -> None:
        user = importing_user(options["username"])
        path: Path = options["file"]

        def do_import():
            return import_crosswalk(
                path.name,
                path.read_bytes(),
                source=options["source"],
                target=options["target"],
                replace=options["replace"],
                dry_run=options["dry_run"],
                user=user,
            )

        run_import(self, path, do_import)

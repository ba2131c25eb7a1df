from pathlib import Path

from django.core.management.base import BaseCommand

from occupations.importers.commands import add_common_arguments, importing_user, run_import
from occupations.importers.taxonomy_csv import import_taxonomy_csv


class Command(BaseCommand):
    help = (
        "Import an occupational classification from a CSV (code,title,level,parent) into the "
        "taxonomy '<name> <version>'. All or nothing; see docs/taxonomies.md."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version names the taxonomy's release here, not Django's version.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="CSV with columns code,title,level,parent.")
        parser.add_argument("--name", required=True, help="The taxonomy's name, e.g. ISCO.")
        parser.add_argument("--version", required=True, help="Its release, e.g. 08.")
        parser.add_argument("--country", default="", help="ISO 3166 two-letter code, e.g. GB.")
        parser.add_argument("--description", default="")
        parser.add_argument("--source", default="", help="Who publishes it.")
        parser.add_argument("--licence", default="", help="e.g. CC BY 4.0.")
        parser.add_argument(
            "--credit", default="", help="The attribution its licence asks for, shown with it."
        )
        add_common_arguments(parser)

    def handle(self, *args, **options) -> None:
        user = importing_user(options["username"])
        path: Path = options["file"]

        def do_import():
            return import_taxonomy_csv(
                path.name,
                path.read_bytes(),
                taxonomy_name=options["name"],
                version=options["version"],
                country=options["country"],
                description=options["description"],
                source=options["source"],
                licence=options["licence"],
                credit=options["credit"],
                dry_run=options["dry_run"],
                user=user,
            )

        run_import(self, path, do_import)

from pathlib import Path

from django.core.management.base import BaseCommand

from occupations.importers.commands import add_common_arguments, importing_user, run_import
from occupations.importers.onet import import_onet, read_onet_files


class Command(BaseCommand):
    help = (
        "Import an O*NET text release (a folder or the official .zip): occupations, task "
        "statements and detailed work activities into the taxonomy 'O*NET-SOC <release>', "
        "and a crosswalk to SOC. All or nothing; see docs/taxonomies.md."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, help="Folder of .txt files, or the .zip.")
        parser.add_argument(
            "--release", help="The O*NET release, e.g. 26.3 (default: as Read Me.txt names it)."
        )
        parser.add_argument(
            "--soc",
            default="SOC 2018",
            help="The SOC taxonomy that titles major groups and that the crosswalk leads to.",
        )
        add_common_arguments(parser)

    def handle(self, *args, **options) -> None:
        user = importing_user(options["username"])
        path: Path = options["path"]

        def do_import():
            files = read_onet_files(path)
            origin = path.name if path.is_file() else ""
            return import_onet(
                files,
                release=options["release"],
                soc=options["soc"],
                dry_run=options["dry_run"],
                user=user,
                origin=origin,
            )

        run_import(self, path, do_import)

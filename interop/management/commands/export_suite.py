from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from interop.formats import EXPORTERS, export_zip, held_out_versions
from occupations.models import Suite


class Command(BaseCommand):
    help = (
        "Write a suite's task versions in an exchange format (docs/formats.md): an Inspect AI "
        "task, HealthBench or GDPval. Held-out tasks only with --include-held-out."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug", help="The suite to export.")
        parser.add_argument("--format", required=True, choices=sorted(EXPORTERS))
        parser.add_argument(
            "--output", type=Path, required=True, metavar="DIR", help="Folder to write into."
        )
        parser.add_argument(
            "--include-held-out",
            action="store_true",
            help="Also export held-out tasks, with their text and canary. Keep the files private.",
        )
        parser.add_argument(
            "--zip", action="store_true", help="Write one zip archive into DIR instead of files."
        )

    def handle(self, *args, **options) -> None:
        try:
            suite = Suite.objects.get(slug=options["slug"])
        except Suite.DoesNotExist as error:
            raise CommandError(f"No suite with slug {options['slug']!r}.") from error
        format_name, output = options["format"], options["output"]
        include_held_out = options["include_held_out"]
        exporter = EXPORTERS[format_name]
        try:
            if options["zip"]:
                output.mkdir(parents=True, exist_ok=True)
                archive = output / f"{suite.slug}-{format_name}.zip"
                archive.write_bytes(
                    export_zip(suite, format_name, include_held_out=include_held_out)
                )
                written = [archive]
            else:
                written = exporter.write(suite, output, include_held_out=include_held_out)
        except OSError as error:
            raise CommandError(f"Cannot write to {output}: {error}") from error
        except ValueError as error:  # nothing to export, said by the format
            raise CommandError(str(error)) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Exported {suite.slug} as {exporter.label}: {len(written)} file(s)."
            )
        )
        for path in written:
            self.stdout.write(f"  {path}")
        held_out = held_out_versions(suite).count()
        if include_held_out and held_out:
            self.stdout.write(
                self.style.WARNING(f"{output} holds {held_out} held-out task(s): keep it private.")
            )
        elif held_out:
            self.stdout.write(
                f"{held_out} held-out task(s) left out; --include-held-out exports them."
            )

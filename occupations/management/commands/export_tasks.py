from collections.abc import Iterator
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from occupations.jsonl import export_suite, export_tasks
from occupations.models import Suite, Task


class Command(BaseCommand):
    help = (
        "Write tasks as JSON Lines, one task per line (docs/task-format.md): every task from "
        "its published version, else its latest; or, with --suite, the suite's versions. "
        "Held-out tasks only with --include-held-out."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--suite", metavar="SLUG", help="Export the task versions of a suite.")
        parser.add_argument(
            "--include-held-out",
            action="store_true",
            help="Also export held-out tasks, with their text and canary. Keep the file private.",
        )
        parser.add_argument(
            "--output", type=Path, metavar="FILE", help="Write to FILE instead of stdout."
        )

    def handle(self, *args, **options) -> None:
        lines = self._lines(options["suite"], options["include_held_out"])
        output: Path | None = options["output"]
        if output is None:
            for line in lines:
                self.stdout.write(line)
            return
        count = 0
        with output.open("w", encoding="utf-8", newline="\n") as file:
            for line in lines:
                file.write(line + "\n")
                count += 1
        self.stdout.write(self.style.SUCCESS(f"Exported {count} task(s) to {output}."))
        if options["include_held_out"]:
            self.stdout.write(
                self.style.WARNING(f"{output} may hold held-out tasks: keep it private.")
            )

    def _lines(self, suite_slug: str | None, include_held_out: bool) -> Iterator[str]:
        if suite_slug is None:
            tasks = Task.objects.select_related("occupation__taxonomy", "published_version")
            return export_tasks(tasks.order_by("slug"), include_held_out=include_held_out)
        try:
            suite = Suite.objects.get(slug=suite_slug)
        except Suite.DoesNotExist as error:
            raise CommandError(f"No suite with slug {suite_slug!r}.") from error
        return export_suite(suite, include_held_out=include_held_out)

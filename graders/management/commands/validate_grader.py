from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from graders import validation
from graders.agreement import Agreement
from graders.management.grader_option import find_grader
from graders.validation import GroupFigures, ValidationResult


def _figure(value: float | None) -> str:
    return "   -" if value is None else f"{value:4.2f}"


def _comparison(figures: Agreement) -> str:
    return (
        f"{figures.items:>6} {_figure(figures.agreement)} {_figure(figures.kappa)} "
        f"{_figure(figures.macro_f1)}"
    )


def figures_line(label: str, group: GroupFigures, width: int) -> str:
    return (
        f"{label[:width]:<{width}} {group.items:>6}  {_comparison(group.grader)}  "
        f"{_comparison(group.experts)}  |  {group.all_items:>6}  "
        f"{_comparison(group.grader_all_items)}"
    )


class Command(BaseCommand):
    help = (
        "Validate an LLM grader against the expert grades of a human grader: agreement, "
        "Cohen's kappa and macro-F1, overall, by tag and by job category."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs):
        # "--version" names the grader version here, in place of Django's "print the
        # Django version" option.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser) -> None:
        parser.add_argument("--grader", required=True, help="Name of the LLM grader.")
        parser.add_argument(
            "--version", type=int, default=None, help="Grader version (default: the latest)."
        )
        parser.add_argument(
            "--experts",
            required=True,
            help="Name of the human grader whose expert grades are the reference.",
        )
        parser.add_argument(
            "--experts-version",
            type=int,
            default=None,
            help="Version of the human grader (default: the latest).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Print the figures without keeping the validation.",
        )

    def handle(self, *args, **options) -> None:
        grader = find_grader("grader", options["grader"], options["version"])
        experts = find_grader("experts", options["experts"], options["experts_version"])
        try:
            with transaction.atomic():
                result = validation.compute(grader, experts)
                if not options["dry_run"]:
                    validation.save_validation(result)
        except validation.ValidationInputError as error:
            raise CommandError(str(error)) from error
        self.print_result(result)
        if options["dry_run"]:
            self.stdout.write("Dry run: the validation was not kept.")

    def print_result(self, result: ValidationResult) -> None:
        self.stdout.write(
            f"{result.grader.label} against {result.experts.label}: {result.samples} samples "
            f"and {result.items} criterion verdicts graded by at least two experts (of "
            f"{result.all_samples} samples and {result.all_items} criterion verdicts graded "
            f"by any expert), {result.expert_count} experts"
        )
        style = self.style.SUCCESS if result.passed else self.style.ERROR
        self.stdout.write(style(result.reason))
        self.stdout.write(
            "The verdict compares both on the items graded by at least two experts; the "
            "columns after | are the grader on every expert-graded item, for context."
        )
        width = 32
        columns = f"{'pairs':>6} {'agr':>4} {'kap':>4} {'F1':>4}"
        header = (
            f"{'':<{width}} {'items':>6}  {'grader vs experts':^21}  "
            f"{'experts vs experts':^21}  |  {'every item: grader vs experts':^29}\n"
            f"{'':<{width}} {'':>6}  {columns}  {columns}  |  {'items':>6}  {columns}"
        )
        self.stdout.write(header)
        self.stdout.write(figures_line("overall", result.overall, width))
        for title, groups in (("tag", result.by_tag), ("job category", result.by_job_category)):
            self.stdout.write(f"by {title}:")
            for group in groups:
                label = group.label if title == "tag" else f"{group.key} {group.label}"
                self.stdout.write(figures_line(f"  {label}", group, width))

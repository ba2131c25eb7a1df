from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from graders import validation
from graders.management.grader_option import find_grader
from graders.validation import GroupFigures, ValidationResult


def _figure(value: float | None) -> str:
    return "   -" if value is None else f"{value:4.2f}"


def figures_line(label: str, group: GroupFigures, width: int) -> str:
    grader, experts = group.grader, group.experts
    return (
        f"{label[:width]:<{width}} {group.items:>6}  "
        f"{grader.items:>6} {_figure(grader.agreement)} {_figure(grader.kappa)} "
        f"{_figure(grader.macro_f1)}  "
        f"{experts.items:>6} {_figure(experts.agreement)} {_figure(experts.kappa)} "
        f"{_figure(experts.macro_f1)}"
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
            help="Name of the human grader whose expert grades are the reference (its latest "
            "version).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Print the figures without keeping the validation.",
        )

    def handle(self, *args, **options) -> None:
        grader = find_grader("grader", options["grader"], options["version"])
        experts = find_grader("experts", options["experts"], None)
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
            f"{result.grader.label} against {result.experts.label}: {result.samples} samples, "
            f"{result.items} criterion verdicts, {result.expert_count} experts"
        )
        style = self.style.SUCCESS if result.passed else self.style.ERROR
        self.stdout.write(style(result.reason))
        width = 32
        header = (
            f"{'':<{width}} {'items':>6}  {'grader vs experts':^26}  {'experts vs experts':^26}\n"
            f"{'':<{width}} {'':>6}  {'pairs':>6} {'agr':>4} {'kap':>4} {'F1':>4}  "
            f"{'pairs':>6} {'agr':>4} {'kap':>4} {'F1':>4}"
        )
        self.stdout.write(header)
        self.stdout.write(figures_line("overall", result.overall, width))
        for title, groups in (("tag", result.by_tag), ("job category", result.by_job_category)):
            self.stdout.write(f"by {title}:")
            for group in groups:
                label = group.label if title == "tag" else f"{group.key} {group.label}"
                self.stdout.write(figures_line(f"  {label}", group, width))

"""Graders and the grades they give: a score per sample and a verdict per rubric criterion."""

from decimal import Decimal

from django.db import models

from graders.prompts import PROMPT_VERSION
from occupations.models import RubricCriterion
from runs.models import ModelEndpoint, Sample


class Grader(models.Model):
    """A way of grading samples against their rubric; a new prompt version is a new grader."""

    class Kind(models.TextChoices):
        LLM_RUBRIC = "llm_rubric", "LLM rubric judge"
        HUMAN = "human", "Human expert"

    class Mode(models.TextChoices):
        PER_CRITERION = "per_criterion", "One judge call per criterion"
        BATCHED = "batched", "One judge call per sample"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.LLM_RUBRIC)
    judge = models.ForeignKey(
        ModelEndpoint,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="graders",
        help_text="The model that judges (LLM graders only).",
    )
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.PER_CRITERION)
    prompt_version = models.CharField(max_length=32, default=PROMPT_VERSION)
    is_active = models.BooleanField(
        default=True, help_text="Active graders grade every new sample as it lands."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Grade(models.Model):
    """A grader's judgement of one sample. Unscored grades say why instead of scoring zero."""

    class Status(models.TextChoices):
        SCORED = "scored", "Scored"
        UNSCORED = "unscored", "Unscored"

    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="grades")
    grader = models.ForeignKey(Grader, on_delete=models.PROTECT, related_name="grades")
    status = models.CharField(max_length=10, choices=Status.choices)
    score = models.FloatField(
        null=True,
        blank=True,
        help_text="Points earned over positive points; negative criteria can take it below 0.",
    )
    success = models.BooleanField(null=True, blank=True)
    unscored_reason = models.TextField(blank=True)
    judge_input_tokens = models.PositiveIntegerField(default=0)
    judge_output_tokens = models.PositiveIntegerField(default=0)
    judge_cost = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sample", "grader"]
        constraints = [
            models.UniqueConstraint(fields=["sample", "grader"], name="unique_grade_per_grader")
        ]
        indexes = [models.Index(fields=["grader", "status"])]

    def __str__(self) -> str:
        shown = "unscored" if self.score is None else f"{self.score:.2f}"
        return f"{self.sample} by {self.grader}: {shown}"


class CriterionVerdict(models.Model):
    """Whether one criterion was met (for a negative criterion: the behaviour was present)."""

    grade = models.ForeignKey(Grade, on_delete=models.CASCADE, related_name="verdicts")
    criterion = models.ForeignKey(
        RubricCriterion, on_delete=models.PROTECT, related_name="verdicts"
    )
    met = models.BooleanField()
    explanation = models.TextField(blank=True)
    raw_reply = models.TextField(blank=True, help_text="The judge's reply, kept for audit.")

    class Meta:
        ordering = ["grade", "criterion__order"]
        constraints = [
            models.UniqueConstraint(fields=["grade", "criterion"], name="unique_verdict")
        ]

    def __str__(self) -> str:
        return f"{'met' if self.met else 'not met'}: {self.criterion}"

"""Graders and the grades they give: a score per sample and a verdict per rubric criterion.

A grader's configuration is frozen once it has graded anything: a changed judge, mode,
prompt or ensemble is a new version of the grader (same name, next number), so that every
grade can say exactly how it was reached and old grades stay in history.
"""

import random
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from graders.prompts import PROMPT_VERSION
from occupations.models import RubricCriterion
from runs.models import ModelEndpoint, Sample


def _random_position() -> int:
    return random.randrange(2**31)


class Grader(models.Model):
    """A way of grading samples against their rubric, in numbered versions."""

    class Kind(models.TextChoices):
        LLM_RUBRIC = "llm_rubric", "LLM rubric judge"
        HUMAN = "human", "Human expert"

    class Mode(models.TextChoices):
        PER_CRITERION = "per_criterion", "One judge call per criterion"
        BATCHED = "batched", "One judge call per sample"

    CONFIG_FIELDS = (
        "kind",
        "judge",
        "mode",
        "prompt_version",
        "allow_same_family",
        "prefilter",
    )
    """What decides the grades: frozen once the grader has graded (with `extra_judges`).
    How many expert grades a sample takes is how grades are collected, not how they are
    reached, so `grades_per_sample` may change at any time."""

    name = models.CharField(max_length=200)
    version = models.PositiveIntegerField(default=1)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.LLM_RUBRIC)
    judge = models.ForeignKey(
        ModelEndpoint,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="graders",
        help_text="The model that judges (LLM graders only).",
    )
    extra_judges = models.ManyToManyField(
        ModelEndpoint,
        blank=True,
        related_name="ensemble_graders",
        help_text="More judges for an ensemble: each criterion takes the majority verdict.",
    )
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.PER_CRITERION)
    prompt_version = models.CharField(max_length=32, default=PROMPT_VERSION)
    allow_same_family = models.BooleanField(
        default=False,
        help_text="Let a judge grade models of its own family (flagged in reports).",
    )
    prefilter = models.BooleanField(
        default=True,
        help_text="Score empty, refusal-only and opener-only answers 0 without a judge call.",
    )
    grades_per_sample = models.PositiveSmallIntegerField(
        default=2, help_text="Independent expert grades wanted per sample (human graders)."
    )
    supersedes = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded_by",
        help_text="The version this one replaced.",
    )
    is_active = models.BooleanField(
        default=True, help_text="Active graders grade every new sample as it lands."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="unique_grader_version")
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """Name and version, as reports cite the grader."""
        return f"{self.name} v{self.version}"

    @property
    def is_human(self) -> bool:
        return self.kind == self.Kind.HUMAN

    def judges(self) -> list[ModelEndpoint]:
        """Every judge of this grader, the main one first."""
        if self.judge is None:
            return []
        extra = [e for e in self.extra_judges.all() if e.pk != self.judge_id]
        return [self.judge, *sorted(extra, key=lambda e: e.pk)]

    def config(self) -> dict:
        """The configuration every grade records, so it says how it was reached."""
        return {
            "grader": self.label,
            "kind": self.kind,
            "mode": self.mode,
            "prompt_version": self.prompt_version,
            "allow_same_family": self.allow_same_family,
            "prefilter": self.prefilter,
            "judges": [
                {
                    "slug": judge.slug,
                    "provider": judge.provider,
                    "model_id": judge.model_id,
                    "family": judge.family,
                    "parameters": judge.parameters or {},
                }
                for judge in self.judges()
            ],
        }

    def clean(self) -> None:
        if self.kind == self.Kind.LLM_RUBRIC and self.judge_id is None:
            raise ValidationError({"judge": "An LLM rubric grader needs a judge model."})
        if self.kind == self.Kind.HUMAN and self.judge_id is not None:
            raise ValidationError({"judge": "A human grader has no judge model."})
        if self.pk and self.grades.exists():
            before = Grader.objects.get(pk=self.pk)
            changed = [f for f in self.CONFIG_FIELDS if getattr(before, f) != getattr(self, f)]
            if changed:
                raise ValidationError(
                    {
                        changed[0]: "This grader has graded samples, so its configuration is "
                        "frozen; make a new version instead."
                    }
                )


class Grade(models.Model):
    """A grader's judgement of one sample. Unscored grades say why instead of scoring zero.

    LLM graders give one grade per sample; human graders one per sample and expert.
    """

    class Status(models.TextChoices):
        SCORED = "scored", "Scored"
        UNSCORED = "unscored", "Unscored"

    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="grades")
    grader = models.ForeignKey(Grader, on_delete=models.PROTECT, related_name="grades")
    expert = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="expert_grades",
        help_text="The expert who gave a human grade.",
    )
    is_reconciled = models.BooleanField(
        default=False,
        help_text="An expert's reconciliation of disagreeing expert grades for this sample.",
    )
    status = models.CharField(max_length=10, choices=Status.choices)
    score = models.FloatField(
        null=True,
        blank=True,
        help_text="Points earned over positive points; negative criteria can take it below 0.",
    )
    success = models.BooleanField(null=True, blank=True)
    tag_scores = models.JSONField(
        default=dict, blank=True, help_text="Rubric score over the criteria of each tag."
    )
    unscored_reason = models.TextField(blank=True)
    prefilter = models.CharField(
        max_length=32,
        blank=True,
        help_text="Why the pre-filter scored the answer 0 without a judge call, if it did.",
    )
    flags = models.JSONField(
        default=list,
        blank=True,
        help_text="Warnings for readers, e.g. 'same_family' or 'injection_suspected'.",
    )
    comment = models.TextField(blank=True, help_text="An expert's overall comment.")
    grader_config = models.JSONField(
        default=dict, blank=True, help_text="The grader's configuration when it graded."
    )
    prompt_version = models.CharField(max_length=32, blank=True)
    judge_input_tokens = models.PositiveIntegerField(default=0)
    judge_output_tokens = models.PositiveIntegerField(default=0)
    judge_cost = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    judge_cached_calls = models.PositiveIntegerField(
        default=0,
        help_text="Judge calls answered from the response cache: they cost nothing this time, "
        "so the grade's tokens and cost leave them out.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sample", "grader"]
        constraints = [
            models.UniqueConstraint(
                fields=["sample", "grader"],
                condition=Q(expert__isnull=True),
                name="unique_grade_per_grader",
            ),
            models.UniqueConstraint(
                fields=["sample", "grader", "expert", "is_reconciled"],
                condition=Q(expert__isnull=False),
                name="unique_grade_per_expert",
            ),
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
    explanation = models.TextField(
        blank=True, help_text="The judge's reason, or the expert's comment."
    )
    raw_reply = models.TextField(blank=True, help_text="The judge's reply, kept for audit.")
    votes = models.JSONField(
        default=list,
        blank=True,
        help_text="Each ensemble judge's verdict: [{judge, met, explanation}].",
    )
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        default=Decimal("0"),
        help_text="Judge cost of this verdict; in batched mode, its share of the sample's call.",
    )

    class Meta:
        ordering = ["grade", "criterion__order"]
        constraints = [
            models.UniqueConstraint(fields=["grade", "criterion"], name="unique_verdict")
        ]

    def __str__(self) -> str:
        return f"{'met' if self.met else 'not met'}: {self.criterion}"


class ExpertQueueItem(models.Model):
    """A sample waiting for expert grades from a human grader's blind queue."""

    grader = models.ForeignKey(
        Grader,
        on_delete=models.CASCADE,
        related_name="queue",
        limit_choices_to={"kind": Grader.Kind.HUMAN},
    )
    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="expert_queue")
    position = models.PositiveIntegerField(
        default=_random_position, help_text="Random order, so experts do not see runs in turn."
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["grader", "position"]
        constraints = [
            models.UniqueConstraint(fields=["grader", "sample"], name="unique_queue_item")
        ]

    def __str__(self) -> str:
        return f"{self.sample} in {self.grader}"


class GraderValidation(models.Model):
    """A grader's agreement with experts, computed at one point in time and kept."""

    grader = models.ForeignKey(Grader, on_delete=models.CASCADE, related_name="validations")
    experts = models.ForeignKey(
        Grader,
        on_delete=models.PROTECT,
        related_name="validations_as_reference",
        limit_choices_to={"kind": Grader.Kind.HUMAN},
        help_text="The human grader whose grades are the reference.",
    )
    computed_at = models.DateTimeField(auto_now_add=True)
    computed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    samples = models.PositiveIntegerField(help_text="Expert-graded samples the grader also graded.")
    items = models.PositiveIntegerField(help_text="Criterion verdicts compared.")
    margin = models.FloatField(help_text="How far below the expert baseline still passes.")
    passed = models.BooleanField()
    figures = models.JSONField(
        help_text="Agreement, kappa and macro-F1, overall, by criterion, tag and job category."
    )

    class Meta:
        ordering = ["-computed_at"]
        get_latest_by = "computed_at"

    def __str__(self) -> str:
        return f"{self.grader} against {self.experts}: {'passed' if self.passed else 'not passed'}"

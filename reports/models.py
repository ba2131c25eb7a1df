"""Materialised results: per grader, model, suite and task version, the counts every report
page is computed from, so that pages never read samples or grades.

Rows are written only by reports.materialise (set-based SQL), never edited by hand.
"""

from django.conf import settings
from django.db import models
from django.urls import reverse

from graders.models import Grader
from occupations.models import Occupation, Suite, Task, TaskVersion
from runs.models import ModelEndpoint


class TaskResult(models.Model):
    """One grader's results of one model on one task version of one suite, pooled over every
    completed run of that model on that suite. Denormalised so pages filter and group by
    occupation, job category, task length and visibility without joins. The model's release
    date and family are not copied: they are read through the endpoint, so editing a model
    shows at once.
    """

    grader = models.ForeignKey(Grader, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(ModelEndpoint, on_delete=models.CASCADE, related_name="+")
    suite = models.ForeignKey(Suite, on_delete=models.CASCADE, related_name="+")
    task_version = models.ForeignKey(TaskVersion, on_delete=models.CASCADE, related_name="+")
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="+")
    occupation = models.ForeignKey(Occupation, on_delete=models.CASCADE, related_name="+")
    job_category = models.ForeignKey(
        Occupation, null=True, on_delete=models.CASCADE, related_name="+"
    )
    estimated_minutes = models.PositiveIntegerField()
    visibility = models.CharField(max_length=10, choices=Task.Visibility.choices)
    attempts = models.PositiveIntegerField(help_text="Scored attempts (n).")
    successes = models.PositiveIntegerField(help_text="Scored attempts that succeeded (c).")
    score_sum = models.FloatField(
        help_text="Sum of the scored attempts' rubric scores (single scores may be negative; "
        "aggregates are clipped after averaging)."
    )
    unscored = models.PositiveIntegerField(help_text="Attempts the grader could not score.")
    failed = models.PositiveIntegerField(help_text="Attempts whose model call failed.")
    refreshed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["grader", "endpoint", "suite", "task_version"], name="unique_task_result"
            )
        ]
        indexes = [
            models.Index(fields=["grader", "job_category"], name="taskresult_category"),
            models.Index(fields=["grader", "occupation"], name="taskresult_occupation"),
            models.Index(fields=["grader", "endpoint"], name="taskresult_endpoint"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.grader_id}/{self.endpoint_id}/{self.suite_id}/{self.task_version_id}: "
            f"{self.successes}/{self.attempts}"
        )


class ResultsVersion(models.Model):
    """Changes whenever a grader's materialised results are refreshed: cached report figures
    are keyed by it, so a refresh makes every cached page of that grader stale at once."""

    grader = models.OneToOneField(Grader, on_delete=models.CASCADE, related_name="+")
    token = models.CharField(
        max_length=32, help_text="Random per refresh, so keys never repeat across databases."
    )
    refreshes = models.PositiveIntegerField(default=0)
    refreshed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"grader {self.grader_id} results {self.refreshes} ({self.token[:8]})"


class ReleaseQuerySet(models.QuerySet):
    """Bulk updates and deletes refuse approved releases, as Release.save and delete do;
    approval itself is a bulk update of a draft (reports.releases.approve)."""

    def update(self, **kwargs) -> int:
        if self.filter(status=Release.Status.APPROVED).exists():
            raise ValueError("Approved releases cannot change.")
        return super().update(**kwargs)

    def delete(self):
        if self.filter(status=Release.Status.APPROVED).exists():
            raise ValueError("Approved releases cannot be deleted.")
        return super().delete()

    def approved(self) -> "ReleaseQuerySet":
        return self.filter(status=Release.Status.APPROVED)

    def prepared(self) -> "ReleaseQuerySet":
        """Drafts and approved releases: those whose figures are in."""
        return self.filter(status__in=[Release.Status.DRAFT, Release.Status.APPROVED])

    def visible_to(self, user) -> "ReleaseQuerySet":
        """Approved releases are public; drafts (and releases being prepared, or that could
        not be) only for those who may prepare releases."""
        if user.has_perm("reports.view_release"):
            return self
        return self.approved()


class Release(models.Model):
    """An official release: a fixed set of report figures with its methodology.

    The figures (`tables`) and the methodology are computed once, when the release is
    prepared, and never recomputed: what was approved is what every export shows, and the
    checksum over them proves it. A correction is a new release in the same series, with the
    reason and the figures that changed (`changes`).
    """

    class Status(models.TextChoices):
        PREPARING = "preparing", "Being prepared"
        FAILED = "failed", "Could not be prepared"
        DRAFT = "draft", "Draft"
        APPROVED = "approved", "Approved"

    series = models.SlugField(
        max_length=80,
        help_text="The statistical series; every correction keeps it and takes the next version.",
    )
    version = models.PositiveIntegerField()
    identifier = models.SlugField(
        max_length=100, unique=True, editable=False, help_text="Stable: '<series>-v<version>'."
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PREPARING)
    preparation_error = models.TextField(
        blank=True, editable=False, help_text="Why the figures could not be prepared."
    )

    suite = models.ForeignKey(Suite, on_delete=models.PROTECT, related_name="releases")
    grader = models.ForeignKey(Grader, on_delete=models.PROTECT, related_name="releases")
    endpoints = models.ManyToManyField(ModelEndpoint, related_name="releases")
    taxonomy = models.ForeignKey(
        "occupations.Taxonomy", on_delete=models.PROTECT, related_name="releases"
    )
    period_start = models.DateField(help_text="Models released on or after this date.")
    period_end = models.DateField(
        help_text="Models released on or before this date; the reference date of the figures."
    )
    disclosure_min_tasks = models.PositiveIntegerField(
        help_text="Figures based on fewer tasks than this are suppressed."
    )

    scope = models.JSONField(
        default=dict,
        editable=False,
        help_text="Suite, grader, classification and models (codes, names, release dates) as "
        "they stood when the release was prepared.",
    )
    tables = models.JSONField(
        default=dict, editable=False, help_text="The published figures, per table."
    )
    methodology = models.JSONField(
        default=dict, editable=False, help_text="Sections of the methodology note."
    )
    checksum = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text="SHA-256 of the canonical figures and methodology.",
    )

    supersedes = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded_by",
        help_text="The release this one corrects.",
    )
    correction_reason = models.TextField(blank=True)
    changes = models.JSONField(
        default=list,
        editable=False,
        help_text="Figures that differ from the superseded release: table, row, column, old, new.",
    )

    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    prepared_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    release_date = models.DateField(null=True, blank=True, help_text="Set on approval.")

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        ordering = ["series", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["series", "version"], name="unique_release_version")
        ]
        permissions = [("approve_release", "Can approve a release for publication")]

    def __str__(self) -> str:
        return f"{self.identifier}: {self.title}"

    def save(self, *args, **kwargs) -> None:
        # Approved releases never change; reports.releases.approve is the one way in.
        if self.pk and Release.objects.filter(pk=self.pk, status=self.Status.APPROVED).exists():
            raise ValueError(f"Release {self.identifier} is approved and cannot change.")
        self.identifier = f"{self.series}-v{self.version}"
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("reports:release", args=[self.identifier])

    @property
    def is_approved(self) -> bool:
        return self.status == self.Status.APPROVED

    @property
    def is_prepared(self) -> bool:
        """Whether its figures are in: a draft or an approved release."""
        return self.status in (self.Status.DRAFT, self.Status.APPROVED)

    def delete(self, *args, **kwargs):
        # The database decides, not this copy: it may have been approved since it was loaded.
        approved = Release.objects.filter(pk=self.pk, status=self.Status.APPROVED)
        if self.is_approved or approved.exists():
            raise ValueError(f"Release {self.identifier} is approved and cannot be deleted.")
        return super().delete(*args, **kwargs)

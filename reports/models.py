"""Materialised results: per grader, model, suite and task version, the counts every report
page is computed from, so that pages never read samples or grades.

Rows are written only by reports.materialise (set-based SQL), never edited by hand.
"""

from django.db import models

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

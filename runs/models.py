"""Model endpoints, schedules, runs and the samples they produce."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from occupations.models import Suite, TaskVersion
from runs.cron import validate_cron
from runs.providers import parameter_problems


class ModelEndpoint(models.Model):
    """A model behind a provider API. Keys are never stored, only the variable holding one."""

    class Provider(models.TextChoices):
        OPENAI = "openai", "OpenAI"
        ANTHROPIC = "anthropic", "Anthropic"
        OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible server"
        SIMULATED = "simulated", "Simulated (offline demo)"
        IMPORTED = "imported", "Imported results (not callable)"

    slug = models.SlugField(max_length=120, unique=True)
    display_name = models.CharField(max_length=200)
    provider = models.CharField(max_length=32, choices=Provider.choices)
    model_id = models.CharField(max_length=200, help_text="The provider's model name.")
    family = models.CharField(max_length=100, blank=True, help_text="Model family, e.g. 'GPT'.")
    lab = models.CharField(max_length=100, blank=True, help_text="Who built the model.")
    release_date = models.DateField(help_text="Public release date; every trend is drawn on it.")
    base_url = models.URLField(
        blank=True, help_text="Server address, for OpenAI-compatible servers or gateways."
    )
    api_key_env = models.CharField(
        max_length=100,
        blank=True,
        help_text="Name of the environment variable holding the API key "
        "(default OPENAI_API_KEY or ANTHROPIC_API_KEY).",
    )
    parameters = models.JSONField(
        default=dict,
        blank=True,
        help_text="Generation parameters, a JSON object; every key is optional. "
        "temperature (0-2), top_p (0-1), max_output_tokens (whole number); "
        "seed (whole number; OpenAI Chat Completions only); "
        "reasoning_effort (OpenAI: none, minimal, low, medium, high, xhigh, max); "
        "api ('chat', the default, or 'responses' for OpenAI's Responses API; "
        "OpenAI and compatible servers); "
        "thinking_budget (Anthropic: tokens of extended thinking, at least 1024, given on "
        "top of max_output_tokens; temperature cannot be set with it); "
        "vision (true when the model takes images: image attachments are then sent as "
        "images, otherwise named and left out); "
        "structured_output (judges: 'json_schema', the default, 'json_object' or 'none' "
        "for OpenAI-compatible servers without schema support). "
        "Simulated models: skill, latency_ms, failure_rate.",
    )
    input_price_per_mtok = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        default=Decimal("0"),
        help_text="Price per million input tokens.",
    )
    output_price_per_mtok = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        default=Decimal("0"),
        help_text="Price per million output tokens.",
    )
    max_concurrency = models.PositiveIntegerField(
        default=8,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Most calls in flight at once from one worker; the engine backs off below it "
        "when the provider answers 429 and grows back on success.",
    )
    is_active = models.BooleanField(
        default=True, help_text="Inactive models are skipped by schedules and kept for history."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["release_date", "display_name"]

    def __str__(self) -> str:
        return f"{self.display_name} (simulated)" if self.is_simulated else self.display_name

    def clean(self) -> None:
        problems = parameter_problems(self.provider, self.parameters)
        if problems:
            raise ValidationError({"parameters": problems})

    @property
    def is_simulated(self) -> bool:
        return self.provider == self.Provider.SIMULATED

    def cost_of(self, input_tokens: int, output_tokens: int) -> Decimal:
        return (
            self.input_price_per_mtok * input_tokens + self.output_price_per_mtok * output_tokens
        ) / Decimal(1_000_000)


class Schedule(models.Model):
    """Run a suite on some models, on a cron schedule kept by the beat process."""

    name = models.CharField(max_length=200, unique=True)
    suite = models.ForeignKey(Suite, on_delete=models.PROTECT, related_name="schedules")
    endpoints = models.ManyToManyField(ModelEndpoint, related_name="schedules")
    samples_per_task = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    cron = models.CharField(
        max_length=100,
        default="0 2 * * 1",
        validators=[validate_cron],
        help_text="Five cron fields: minute hour day-of-month month day-of-week.",
    )
    budget_per_run = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Cost cap of each run this schedule starts (blank: no cap).",
    )
    enabled = models.BooleanField(default=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        editable=False,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    use_batch = models.BooleanField(
        default=False,
        help_text="Runs sample through the provider's batch API: half price, results within 24 h.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def delete(self, *args, **kwargs):
        periodic_task = self.periodic_task
        result = super().delete(*args, **kwargs)
        if periodic_task is not None:
            periodic_task.delete()
        return result


class Run(models.Model):
    """One suite on one endpoint: every task version, `samples_per_task` times."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        GRADING = "grading", "Grading"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    suite = models.ForeignKey(Suite, on_delete=models.PROTECT, related_name="runs")
    endpoint = models.ForeignKey(ModelEndpoint, on_delete=models.PROTECT, related_name="runs")
    schedule = models.ForeignKey(
        Schedule, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    trigger_id = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text="Id of the scheduler message that started this run, so it starts it once.",
    )
    samples_per_task = models.PositiveSmallIntegerField(default=1)
    fresh_samples = models.BooleanField(
        default=False,
        help_text="Ask the model again even where the response cache holds the same call.",
    )
    budget = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Sampling stops, and the run pauses, once its cost reaches this.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    planned_samples = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    stop_reason = models.CharField(
        max_length=500, blank=True, help_text="Why the run is paused or was cancelled."
    )
    chunk_seq = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Number of the chunk that may go on sampling. A run samples one chunk at "
        "a time; a chunk whose number is no longer current stops.",
    )
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Last sign of life from a chunk."
    )
    concurrency = models.PositiveIntegerField(
        default=0, editable=False, help_text="Calls the engine allowed in flight at last report."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    sampled_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    use_batch = models.BooleanField(
        default=False,
        help_text="Sample through the provider's batch API: half price, results within 24 h.",
    )
    imported_from = models.CharField(
        max_length=300,
        blank=True,
        editable=False,
        help_text="The log the samples were read from (an Inspect AI eval log and its id); "
        "blank for runs sampled here.",
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status"])]
        constraints = [
            models.UniqueConstraint(
                fields=["trigger_id", "endpoint"],
                condition=~models.Q(trigger_id=""),
                name="one_run_per_trigger_and_endpoint",
            )
        ]

    def __str__(self) -> str:
        return f"Run {self.pk}: {self.suite} on {self.endpoint}"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.COMPLETED, self.Status.FAILED, self.Status.CANCELLED}

    @property
    def can_pause(self) -> bool:
        return self.status in {self.Status.QUEUED, self.Status.RUNNING}

    @property
    def can_resume(self) -> bool:
        return self.status == self.Status.PAUSED

    @property
    def can_cancel(self) -> bool:
        return self.status in {self.Status.QUEUED, self.Status.RUNNING, self.Status.PAUSED}


class Sample(models.Model):
    """One attempt of a model at one task version. Written once per (run, version, attempt)."""

    class Status(models.TextChoices):
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="samples")
    task_version = models.ForeignKey(TaskVersion, on_delete=models.PROTECT, related_name="samples")
    attempt = models.PositiveSmallIntegerField(help_text="0-based attempt index.")
    status = models.CharField(max_length=8, choices=Status.choices)
    output = models.TextField(blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    tries = models.PositiveSmallIntegerField(default=1, help_text="API calls made for it.")
    cached = models.BooleanField(
        default=False, help_text="Taken from the response cache: no API call, no cost."
    )
    error_kind = models.CharField(max_length=32, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "task_version", "attempt"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "task_version", "attempt"], name="unique_sample_attempt"
            )
        ]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.task_version}/#{self.attempt}"


class CachedResponse(models.Model):
    """A model's answer to one exact call, so identical work is never paid for twice.

    The key covers the provider, the model, its parameters, the messages and, for samples,
    the attempt index (so that attempts stay independent).
    """

    key = models.CharField(max_length=64, unique=True)
    provider = models.CharField(max_length=32)
    model_id = models.CharField(max_length=200)
    text = models.TextField()
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.model_id} {self.key[:12]}"


class ProviderBatch(models.Model):
    """Requests of a batch run handed to a provider's batch API in one go.

    Errored and expired requests go again in a batch of the next round.
    """

    class Status(models.TextChoices):
        SUBMITTED = "submitted", "Submitted"
        ENDED = "ended", "Ended"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="provider_batches")
    provider_batch_id = models.CharField(max_length=200, help_text="The provider's id of it.")
    round = models.PositiveSmallIntegerField(
        default=1, help_text="1 for a first submission, 2 for requests sent again, and so on."
    )
    seq = models.PositiveIntegerField(
        editable=False,
        help_text="The run's chunk_seq when it was submitted: once the run moves on (resumed "
        "or restarted), the batch is cancelled and submits no further round.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUBMITTED)
    items = models.JSONField(
        default=dict,
        help_text="Custom id of each request -> its task_version, attempt, round and cache_key.",
    )
    failures = models.JSONField(
        default=dict,
        blank=True,
        help_text="Custom id of each request that failed -> its error kind and message.",
    )
    polls = models.PositiveIntegerField(
        default=0, editable=False, help_text="Times its status was asked for."
    )
    submitted_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    succeeded = models.PositiveIntegerField(default=0)
    errored = models.PositiveIntegerField(default=0)
    expired = models.PositiveIntegerField(default=0)
    canceled = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, help_text="Why the provider failed the whole batch.")

    class Meta:
        ordering = ["run", "round", "pk"]
        indexes = [models.Index(fields=["run", "status"])]

    def __str__(self) -> str:
        return f"Run {self.run_id} round {self.round}: {self.provider_batch_id}"

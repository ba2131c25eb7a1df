"""Occupational taxonomy and the expert-written tasks that measure work in each occupation."""

import uuid
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.signals import m2m_changed
from django.dispatch import receiver
from django.utils import timezone

from audit import trail


class Taxonomy(models.Model):
    """A classification of occupations in one release, e.g. SOC 2018 or ISCO-08."""

    name = models.CharField(max_length=64, help_text="Short name, e.g. 'SOC'.")
    version = models.CharField(max_length=32, help_text="Release, e.g. '2018'.")
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 alpha-2 code.")
    description = models.TextField(blank=True)
    source = models.CharField(
        max_length=255, blank=True, help_text="Who publishes it, e.g. 'USDOL/ETA O*NET'."
    )
    licence = models.CharField(max_length=64, blank=True, help_text="e.g. 'CC BY 4.0'.")
    credit = models.TextField(
        blank=True,
        help_text="The attribution its licence asks for, shown wherever its content appears.",
    )

    class Meta:
        verbose_name_plural = "taxonomies"
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="unique_taxonomy_release")
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class Occupation(models.Model):
    """One node of a taxonomy; the top-level nodes are the job categories."""

    class Level(models.TextChoices):
        MAJOR = "major", "Major group"
        MINOR = "minor", "Minor group"
        BROAD = "broad", "Broad occupation"
        DETAILED = "detailed", "Detailed occupation"

    taxonomy = models.ForeignKey(Taxonomy, on_delete=models.PROTECT, related_name="occupations")
    code = models.CharField(max_length=32)
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    level = models.CharField(max_length=16, choices=Level.choices)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    # The major group this occupation belongs to (itself for a major group), stored so that
    # reports group by job category in one query instead of walking the tree.
    job_category = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
        editable=False,
    )
    employment = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Number of people employed (national estimate)."
    )
    employment_flag = models.CharField(
        max_length=8, blank=True, help_text="Source symbol when the figure is suppressed."
    )
    mean_annual_wage = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Mean annual wage in the national currency.",
    )
    wage_flag = models.CharField(
        max_length=8, blank=True, help_text="Source symbol when the figure is suppressed."
    )
    median_annual_wage = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Median annual wage in the national currency.",
    )
    median_wage_flag = models.CharField(
        max_length=8, blank=True, help_text="Source symbol when the figure is suppressed."
    )
    source = models.CharField(
        max_length=128, blank=True, help_text="Where the employment and wage figures come from."
    )

    class Meta:
        ordering = ["taxonomy", "code"]
        constraints = [
            models.UniqueConstraint(fields=["taxonomy", "code"], name="unique_occupation_code")
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"

    def save(self, *args, **kwargs) -> None:
        is_top_level = self.parent_id is None
        if not is_top_level:
            self.job_category_id = self.parent.job_category_id
        super().save(*args, **kwargs)
        if is_top_level and self.job_category_id != self.pk:
            # A top-level group is its own job category, which needs the primary key first.
            Occupation.objects.filter(pk=self.pk).update(job_category=self.pk)
            self.job_category_id = self.pk

    @property
    def is_job_category(self) -> bool:
        return self.job_category_id == self.pk


class WorkActivity(models.Model):
    """A detailed work activity (O*NET DWA): a kind of work shared by many occupations."""

    taxonomy = models.ForeignKey(Taxonomy, on_delete=models.CASCADE, related_name="work_activities")
    activity_id = models.CharField(max_length=32, help_text="DWA ID, e.g. '4.A.1.a.1.I01.D01'.")
    title = models.CharField(max_length=255)
    group_id = models.CharField(
        max_length=32, blank=True, help_text="The intermediate work activity (IWA ID)."
    )
    element_id = models.CharField(
        max_length=32, blank=True, help_text="The generalized work activity (Element ID)."
    )

    class Meta:
        ordering = ["taxonomy", "activity_id"]
        verbose_name_plural = "work activities"
        constraints = [
            models.UniqueConstraint(fields=["taxonomy", "activity_id"], name="unique_work_activity")
        ]

    def __str__(self) -> str:
        return self.title


class TaskStatement(models.Model):
    """One task an occupation involves, as its source states it (an O*NET task statement)."""

    class TaskType(models.TextChoices):
        CORE = "core", "Core"
        SUPPLEMENTAL = "supplemental", "Supplemental"

    occupation = models.ForeignKey(
        Occupation, on_delete=models.CASCADE, related_name="task_statements"
    )
    statement_id = models.PositiveIntegerField(help_text="The source's id (O*NET Task ID).")
    text = models.TextField()
    task_type = models.CharField(
        max_length=16,
        choices=TaskType.choices,
        blank=True,
        help_text="Core tasks are critical to the occupation; blank where the source has none.",
    )
    incumbents_responding = models.PositiveIntegerField(null=True, blank=True)
    dated = models.DateField(
        null=True, blank=True, help_text="Month the statement was last rated (first day)."
    )
    domain_source = models.CharField(max_length=64, blank=True)
    work_activities = models.ManyToManyField(
        WorkActivity, blank=True, related_name="task_statements"
    )

    class Meta:
        ordering = ["occupation", "statement_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["occupation", "statement_id"], name="unique_task_statement"
            )
        ]

    def __str__(self) -> str:
        return f"{self.statement_id} {self.text[:80]}"

    @property
    def is_core(self) -> bool:
        return self.task_type == self.TaskType.CORE


class Crosswalk(models.Model):
    """Which occupations of one taxonomy correspond to which of another (many to many)."""

    source = models.ForeignKey(Taxonomy, on_delete=models.CASCADE, related_name="crosswalks_from")
    target = models.ForeignKey(Taxonomy, on_delete=models.CASCADE, related_name="crosswalks_to")
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["source", "target"]
        constraints = [
            models.UniqueConstraint(fields=["source", "target"], name="unique_crosswalk"),
            models.CheckConstraint(
                condition=~models.Q(source=models.F("target")), name="crosswalk_two_taxonomies"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} to {self.target}"


class CrosswalkLink(models.Model):
    crosswalk = models.ForeignKey(Crosswalk, on_delete=models.CASCADE, related_name="links")
    source = models.ForeignKey(Occupation, on_delete=models.CASCADE, related_name="+")
    target = models.ForeignKey(Occupation, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["crosswalk", "source", "target"], name="unique_crosswalk_link"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source_id} to {self.target_id}"


class TaxonomyImport(models.Model):
    """One import of official files into a taxonomy release, and what it did."""

    class Kind(models.TextChoices):
        ONET = "onet", "O*NET database"
        OEWS = "oews", "BLS OEWS employment and wages"
        TAXONOMY = "taxonomy", "Taxonomy CSV"
        CROSSWALK = "crosswalk", "Crosswalk CSV"

    taxonomy = models.ForeignKey(Taxonomy, on_delete=models.CASCADE, related_name="imports")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    files = models.JSONField(default=list, help_text="Name and SHA-256 of each file read.")
    added = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    details = models.JSONField(
        default=dict, blank=True, help_text="Counts per record type and why records were skipped."
    )
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} into {self.taxonomy} ({self.created_at:%Y-%m-%d})"


class TaskQuerySet(models.QuerySet):
    def published(self):
        """Tasks with a published version that are not retired: what measures an occupation."""
        return self.filter(published_version__isnull=False).exclude(status=Task.Status.RETIRED)


class Task(models.Model):
    """A unit of real work in one occupation; its content lives in versions."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "in_review", "In review"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"
        APPROVED = "approved", "Approved"
        PUBLISHED = "published", "Published"
        RETIRED = "retired", "Retired"

    class Visibility(models.TextChoices):
        PUBLIC = "public", "Public"
        HELD_OUT = "held_out", "Held out"

    slug = models.SlugField(max_length=120, unique=True)
    occupation = models.ForeignKey(Occupation, on_delete=models.PROTECT, related_name="tasks")
    title = models.CharField(max_length=255)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    canary = models.UUIDField(
        default=uuid.uuid4,
        unique=True,
        editable=False,
        help_text="Marks this task's text so that leaks into training data can be detected.",
    )
    owners = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="tasks")
    published_version = models.ForeignKey(
        "TaskVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The version suites and reports use; later versions may be in progress.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["occupation__code", "slug"]

    def __str__(self) -> str:
        return self.title

    @property
    def is_held_out(self) -> bool:
        return self.visibility == self.Visibility.HELD_OUT

    @property
    def canary_string(self) -> str:
        return f"evalbuilder canary GUID {self.canary}"

    def latest_version(self) -> "TaskVersion | None":
        return self.versions.order_by("-number").first()


class LockedVersionError(ValidationError):
    """Raised when something tries to change a submitted task version or a frozen suite."""


# What may still be set on a submitted version: when it was submitted and published.
LIFECYCLE_FIELDS = frozenset({"submitted_at", "published_at"})


class TaskVersionQuerySet(models.QuerySet):
    """Bulk updates and deletes respect the freeze too: only lifecycle dates may be set."""

    def create_with_rubric(
        self, *, task, number: int, content: dict, criteria: Iterable[dict], user=None
    ) -> "TaskVersion":
        """A new, unlocked version with its content and its criteria, in order.

        `criteria` are mappings of text, points, tag and critical.
        """
        version = self.create(task=task, number=number, created_by=user, updated_by=user, **content)
        added = RubricCriterion.objects.bulk_create(
            RubricCriterion(task_version=version, order=order, **criterion)
            for order, criterion in enumerate(criteria, 1)
        )
        trail.record_rubric_change(version, added=len(added))
        return version

    def update(self, **kwargs):
        if set(kwargs) - LIFECYCLE_FIELDS and self.filter(submitted_at__isnull=False).exists():
            raise LockedVersionError("Submitted task versions cannot change.")
        return super().update(**kwargs)

    def delete(self):
        if self.filter(submitted_at__isnull=False).exists():
            raise LockedVersionError("Submitted task versions cannot be deleted.")
        return super().delete()


class RubricCriterionQuerySet(models.QuerySet):
    def update(self, **kwargs):
        if self.filter(task_version__submitted_at__isnull=False).exists():
            raise LockedVersionError("The rubric of a submitted version cannot change.")
        return super().update(**kwargs)

    def delete(self):
        if self.filter(task_version__submitted_at__isnull=False).exists():
            raise LockedVersionError("The rubric of a submitted version cannot change.")
        return super().delete()


class TaskVersion(models.Model):
    """The content of a task at one point in time; immutable once submitted for review."""

    CONTENT_FIELDS = (
        "instructions",
        "context",
        "deliverable",
        "estimated_minutes",
        "minutes_estimate_method",
        "reference_solution",
        "pass_threshold",
    )
    """The fields authors write (with the rubric and attachments, the version's content)."""

    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    instructions = models.TextField(help_text="What the practitioner is asked to do (Markdown).")
    context = models.TextField(blank=True, help_text="Input material given with the task.")
    deliverable = models.TextField(help_text="What must be handed back.")
    estimated_minutes = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(60 * 24 * 5)],
        help_text="Time a competent practitioner needs, in minutes.",
    )
    minutes_estimate_method = models.TextField(
        blank=True, help_text="How the minutes were estimated (timed, expert judgement ...)."
    )
    reference_solution = models.TextField()
    pass_threshold = models.FloatField(
        default=0.7,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Rubric score at or above which an attempt succeeds.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when submitted; the version is frozen from then on."
    )
    published_at = models.DateTimeField(null=True, blank=True)
    task_statements = models.ManyToManyField(
        TaskStatement,
        blank=True,
        through="TaskStatementCitation",
        related_name="task_versions",
        help_text="The task statements (O*NET) of the occupation this task exercises.",
    )
    calibration = models.JSONField(
        null=True,
        blank=True,
        help_text="The last calibration: the grader, both scores, whether it passed, and a "
        "fingerprint of the content it judged.",
    )
    revision = models.PositiveIntegerField(
        default=0, help_text="Bumped by every save of a draft, to detect concurrent edits."
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = TaskVersionQuerySet.as_manager()

    class Meta:
        ordering = ["task", "number"]
        constraints = [
            models.UniqueConstraint(fields=["task", "number"], name="unique_task_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.task.slug} v{self.number}"

    def save(self, *args, **kwargs) -> None:
        if self.pk and TaskVersion.objects.filter(pk=self.pk, submitted_at__isnull=False).exists():
            raise LockedVersionError(
                f"{self} was submitted and cannot change; edit a new version instead."
            )
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.is_locked:
            raise LockedVersionError(f"{self} was submitted and cannot be deleted.")
        return super().delete(*args, **kwargs)

    @property
    def is_locked(self) -> bool:
        return self.submitted_at is not None

    def lock(self) -> None:
        """Freeze this version (on submission or publication)."""
        if not self.is_locked:
            self.submitted_at = timezone.now()
            if TaskVersion.objects.filter(pk=self.pk, submitted_at__isnull=True).update(
                submitted_at=self.submitted_at
            ):
                trail.record_transition(self, "submitted_at", None, self.submitted_at.isoformat())


class PartOfVersion(models.Model):
    """A row of a task version's content (a criterion, an attachment): frozen with it."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        self._refuse_if_locked()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        self._refuse_if_locked()
        return super().delete(*args, **kwargs)

    def _refuse_if_locked(self) -> None:
        if TaskVersion.objects.filter(pk=self.task_version_id, submitted_at__isnull=False).exists():
            raise LockedVersionError(
                f"{self}: part of a submitted version, which cannot change; edit a new version."
            )


class RubricCriterion(PartOfVersion):
    """One checkable statement about a good (or, with negative points, a bad) answer."""

    class Tag(models.TextChoices):
        ACCURACY = "accuracy", "Accuracy"
        COMPLETENESS = "completeness", "Completeness"
        COMMUNICATION = "communication", "Communication"
        INSTRUCTION_FOLLOWING = "instruction_following", "Instruction following"
        SAFETY = "safety", "Safety"
        REASONING = "reasoning", "Reasoning"

    task_version = models.ForeignKey(TaskVersion, on_delete=models.CASCADE, related_name="criteria")
    order = models.PositiveSmallIntegerField()
    text = models.TextField()
    points = models.SmallIntegerField(
        validators=[MinValueValidator(-10), MaxValueValidator(10)],
        help_text="-10..+10; negative points mark an undesirable behaviour.",
    )
    tag = models.CharField(max_length=40, default=Tag.ACCURACY, help_text="Axis or custom tag.")
    critical = models.BooleanField(
        default=False, help_text="Failing this criterion fails the attempt whatever its score."
    )

    objects = RubricCriterionQuerySet.as_manager()

    class Meta:
        ordering = ["task_version", "order"]
        verbose_name_plural = "rubric criteria"
        constraints = [
            models.UniqueConstraint(
                fields=["task_version", "order"], name="unique_criterion_order"
            ),
            models.CheckConstraint(
                condition=models.Q(points__gte=-10, points__lte=10) & ~models.Q(points=0),
                name="criterion_points_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"[{self.points:+d}] {self.text[:80]}"


class Suite(models.Model):
    """A named set of task versions, frozen once a run uses it so results stay comparable."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    system_prompt = models.TextField(
        blank=True,
        help_text="The system message every model is sent with this suite's tasks; "
        "blank: the default one.",
    )
    task_versions = models.ManyToManyField(TaskVersion, related_name="suites", blank=True)
    frozen_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None

    def freeze(self) -> None:
        if not self.is_frozen:
            self.frozen_at = timezone.now()
            if Suite.objects.filter(pk=self.pk, frozen_at__isnull=True).update(
                frozen_at=self.frozen_at
            ):
                trail.record_transition(self, "frozen_at", None, self.frozen_at.isoformat())


@receiver(m2m_changed, sender=Suite.task_versions.through)
def refuse_changes_to_frozen_suites(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    """A suite used by a run keeps its task versions, so results stay comparable."""
    if action not in ("pre_add", "pre_remove", "pre_clear"):
        return
    if reverse:  # version.suites.add(...): the suites are in pk_set (or all, when clearing)
        suites = Suite.objects.filter(pk__in=pk_set) if pk_set else instance.suites.all()
        frozen = suites.filter(frozen_at__isnull=False)
    else:
        frozen = [instance] if instance.is_frozen else []
    names = ", ".join(suite.slug for suite in frozen)
    if names:
        raise LockedVersionError(f"Suite {names} is frozen by a run; make a new suite instead.")


class TaskStatementCitation(models.Model):
    """A task version citing a task statement it exercises: part of the version's content."""

    task_version = models.ForeignKey(TaskVersion, on_delete=models.CASCADE, related_name="+")
    # A cited statement cannot be deleted (nor, through it, its occupation or taxonomy): a
    # published version's citations never change.
    task_statement = models.ForeignKey(TaskStatement, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["task_version", "task_statement"], name="unique_statement_citation"
            )
        ]

    def __str__(self) -> str:
        return f"version #{self.task_version_id} cites statement #{self.task_statement_id}"


@receiver(m2m_changed, sender=TaskVersion.task_statements.through)
def refuse_citation_changes_to_submitted_versions(
    sender, instance, action, reverse, pk_set, **kwargs
) -> None:
    """The statements a version cites are part of its content, frozen on submission."""
    if action not in ("pre_add", "pre_remove", "pre_clear"):
        return
    if reverse:  # statement.task_versions.add(...): the versions are in pk_set
        versions = TaskVersion.objects.filter(pk__in=pk_set) if pk_set else instance.task_versions
        locked = versions.filter(submitted_at__isnull=False).exists()
    else:
        locked = TaskVersion.objects.filter(pk=instance.pk, submitted_at__isnull=False).exists()
    if locked:
        raise LockedVersionError(
            "A submitted version's task statements cannot change; edit a new version."
        )


class Panel(models.Model):
    """Experts who write and review tasks for a set of occupations.

    A panel scoped to a job category (a top-level group) covers every occupation in it.
    """

    class Role(models.TextChoices):
        AUTHOR = "author", "Author"
        REVIEWER = "reviewer", "Reviewer"

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    occupations = models.ManyToManyField(Occupation, related_name="panels")
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="PanelMembership", related_name="panels"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def covered_occupations(self):
        """Occupations named by the panel, and every member of a job category it names."""
        named = self.occupations.values("pk")
        return Occupation.objects.filter(models.Q(pk__in=named) | models.Q(job_category__in=named))


class PanelMembership(models.Model):
    panel = models.ForeignKey(Panel, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="panel_memberships"
    )
    role = models.CharField(max_length=10, choices=Panel.Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["panel", "user", "role"], name="unique_panel_role")
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.panel}"


class Attachment(PartOfVersion):
    """Input material given with a task version; its text is extracted for text-only models."""

    task_version = models.ForeignKey(
        TaskVersion, on_delete=models.CASCADE, related_name="attachments"
    )
    file = models.FileField(upload_to="attachments/%Y/%m/")
    original_name = models.CharField(max_length=255)
    kind = models.CharField(max_length=10, help_text="Type sniffed from the content, e.g. 'pdf'.")
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    extracted_text = models.TextField(blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["task_version", "created_at"]

    def __str__(self) -> str:
        return self.original_name


class TaskEvent(models.Model):
    """Who did what to a task, and when: the record of its review workflow."""

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        SAVED = "saved", "Saved a draft"
        SUBMITTED = "submitted", "Submitted for review"
        APPROVED = "approved", "Approved"
        CHANGES_REQUESTED = "changes_requested", "Requested changes"
        PUBLISHED = "published", "Published"
        RETIRED = "retired", "Retired"
        NEW_VERSION = "new_version", "Started a new version"
        COMMENTED = "commented", "Commented"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="events")
    version = models.ForeignKey(
        TaskVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.actor} {self.get_action_display().lower()} {self.task.slug}"


class Review(models.Model):
    """One reviewer's decision on one submitted version."""

    class Decision(models.TextChoices):
        APPROVE = "approve", "Approve"
        REQUEST_CHANGES = "request_changes", "Request changes"

    version = models.ForeignKey(TaskVersion, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews"
    )
    decision = models.CharField(max_length=20, choices=Decision.choices)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["version", "reviewer"], name="one_review_per_reviewer")
        ]

    def __str__(self) -> str:
        return f"{self.reviewer}: {self.get_decision_display()} on {self.version}"


class Comment(models.Model):
    """A remark on a version, about the whole task or anchored to one criterion."""

    version = models.ForeignKey(TaskVersion, on_delete=models.CASCADE, related_name="comments")
    criterion = models.ForeignKey(
        RubricCriterion, null=True, blank=True, on_delete=models.SET_NULL, related_name="comments"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="task_comments"
    )
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.author} on {self.version}: {self.body[:40]}"

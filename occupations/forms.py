"""Forms of the authoring pages. They check input; the workflow service does the work."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.db.models import Q

from evalbuilder.forms import RecordsField
from evalbuilder.uploads import RefusedUpload, display_name, human_size, read_capped
from occupations.attachments import describe_binary
from occupations.models import Occupation, RubricCriterion, Task, TaskStatement, TaskVersion
from occupations.workflow import VERSION_FIELDS


class OccupationChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Occupation) -> str:
        return f"{obj.code} {obj.title}"


class NewTaskForm(forms.Form):
    occupation = OccupationChoiceField(
        queryset=Occupation.objects.none(),
        help_text="The occupation whose work this task captures.",
    )
    title = forms.CharField(
        max_length=255,
        help_text="What the work is, as a practitioner would name it, "
        "e.g. 'Reconcile the October bank statement'.",
    )
    visibility = forms.ChoiceField(
        choices=Task.Visibility.choices,
        initial=Task.Visibility.PUBLIC,
        widget=forms.RadioSelect,
        help_text="Held-out tasks are never shown outside your panel, operators and admins.",
    )

    def __init__(self, *args, occupations, search: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = occupations.order_by("code")
        if search:
            choices = choices.filter(Q(code__icontains=search) | Q(title__icontains=search))
        self.fields["occupation"].queryset = choices


class StatementCheckboxes(forms.CheckboxSelectMultiple):
    """The statements' checkboxes; the editor wraps them in a group with the field's id, so
    that an error about them links to the group."""

    def id_for_label(self, id_: str, index: str | None = None) -> str:
        return id_ if index is None else super().id_for_label(id_, index)


class VersionForm(forms.Form):
    """The content of a draft version, with the task's title and visibility."""

    revision = forms.IntegerField(widget=forms.HiddenInput)
    version_number = forms.IntegerField(widget=forms.HiddenInput)
    title = forms.CharField(max_length=255)
    visibility = forms.ChoiceField(choices=Task.Visibility.choices, widget=forms.RadioSelect)
    instructions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12}),
        required=False,
        help_text="What you are asked to do, as your manager or client would ask it. Markdown.",
    )
    context = forms.CharField(
        label="Input material",
        widget=forms.Textarea(attrs={"rows": 12}),
        required=False,
        help_text="Everything the work needs: emails, tables, notes. Attach files below.",
    )
    deliverable = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text="Exactly what must be handed back: format, length, audience.",
    )
    estimated_minutes = forms.IntegerField(
        min_value=1,
        max_value=60 * 24 * 5,
        label="Estimated minutes",
        help_text="How long a competent practitioner takes, in minutes.",
    )
    minutes_estimate_method = forms.CharField(
        label="How the minutes were estimated",
        required=False,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="For example: timed two colleagues; time records of similar work.",
    )
    reference_solution = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12}),
        required=False,
        help_text="A complete, excellent answer, as an expert would hand it in.",
    )
    pass_threshold = forms.FloatField(
        min_value=0,
        max_value=1,
        help_text="Share of the rubric's positive points an answer needs to succeed (0 to 1).",
    )
    task_statements = RecordsField(
        queryset=TaskStatement.objects.none(),
        required=False,
        widget=StatementCheckboxes,
        label="Task statements",
        help_text="The tasks of the occupation, as its source states them, that this task "
        "exercises.",
        error_messages={
            "invalid_choice": "%(value)s is not a task statement of this task's occupation.",
            "invalid_pk_value": "%(pk)s is not a task statement of this task's occupation.",
        },
    )

    def __init__(self, *args, statements=None, **kwargs) -> None:
        """`statements`: those the draft may cite (statements.accepted_citations)."""
        super().__init__(*args, **kwargs)
        if statements is not None:
            self.fields["task_statements"].queryset = statements

    @classmethod
    def initial_for(cls, version: TaskVersion) -> dict:
        return {
            "revision": version.revision,
            "version_number": version.number,
            "title": version.task.title,
            "visibility": version.task.visibility,
            **{name: getattr(version, name) for name in VERSION_FIELDS},
            "task_statements": [s.pk for s in version.task_statements.all()],
        }

    def chosen_statements(self) -> set[str]:
        """Ids of the statements ticked (as sent, or as saved), to tick them again."""
        return {str(pk) for pk in self["task_statements"].value() or ()}


class CriterionForm(forms.Form):
    """One rubric row. Its guidance (points range, tags, critical) stands beside the rubric."""

    criterion_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    text = forms.CharField(label="Criterion", widget=forms.Textarea(attrs={"rows": 2}))
    points = forms.IntegerField(min_value=-10, max_value=10)
    tag = forms.CharField(
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"list": "criterion-tags", "size": 18}),
    )
    critical = forms.BooleanField(required=False)

    def clean_points(self) -> int:
        points = self.cleaned_data["points"]
        if points == 0:
            raise forms.ValidationError("Points cannot be 0: give a positive or negative value.")
        return points


CriterionFormSet = forms.formset_factory(
    CriterionForm, extra=2, can_delete=True, can_order=True, max_num=40
)


def criteria_initial(version: TaskVersion) -> list[dict]:
    return [
        {
            "criterion_id": c.pk,
            "text": c.text,
            "points": c.points,
            "tag": c.tag,
            "critical": c.critical,
            "ORDER": c.order,
        }
        for c in version.criteria.order_by("order")
    ]


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[
            ("approve", "Approve: it is ready to publish"),
            ("request_changes", "Request changes"),
        ],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text="Required when you request changes: say what should change.",
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("decision") == "request_changes" and not data.get("note", "").strip():
            self.add_error("note", "Say what should change.")
        return data


class CommentForm(forms.Form):
    body = forms.CharField(label="Comment", widget=forms.Textarea(attrs={"rows": 3}))
    criterion = forms.ModelChoiceField(
        queryset=RubricCriterion.objects.none(),
        required=False,
        empty_label="The whole task",
        label="About",
    )

    def __init__(self, *args, version: TaskVersion, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["criterion"].queryset = version.criteria.order_by("order")
        self.fields["criterion"].label_from_instance = lambda c: (
            f"Criterion {c.order}: {c.text[:60]}"
        )


class UploadForm(forms.Form):
    """A form with one file, which the request may have dropped for being over its cap."""

    def __init__(self, *args, refused: RefusedUpload | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.refused = refused
        if refused is not None:
            # The file never arrived: say why, instead of "this field is required".
            self.fields["file"].required = False

    def clean_file(self):
        if self.refused is not None:
            raise forms.ValidationError(str(self.refused))
        return self.cleaned_data["file"]


class AttachmentForm(UploadForm):
    file = forms.FileField(
        help_text="PDF, XLSX, CSV, DOCX, TXT, PNG or JPEG. Its text is extracted for the models.",
        error_messages={"required": "Choose a file to attach."},
    )


class SuiteForm(forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(max_length=120, help_text="Short name used in URLs and commands.")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    task_versions = RecordsField(
        queryset=TaskVersion.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        label="Published task versions",
    )

    def __init__(self, *args, suite=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["task_versions"]
        # The suite's own versions stay choosable once newer versions are published, so
        # that saving the suite does not silently drop them.
        held = suite.task_versions.values("pk") if suite is not None else []
        published = Task.objects.published().values("published_version")
        field.queryset = (
            TaskVersion.objects.filter(Q(pk__in=published) | Q(pk__in=held))
            .select_related("task__occupation")
            .order_by("task__occupation__code", "task__slug")
        )
        field.label_from_instance = lambda v: (
            f"{v.task.occupation.code} {v.task.title} (v{v.number})"
        )


class ImportForm(UploadForm):
    """An import file; once clean, cleaned_data["file"] holds its lines of text."""

    file = forms.FileField(
        label="Tasks file (JSON Lines)",
        help_text="One task per line, in the format of docs/task-format.md.",
    )
    dry_run = forms.BooleanField(
        required=False, initial=True, label="Only check the file; write nothing"
    )

    def __init__(self, data=None, *args, refused: RefusedUpload | None = None, **kwargs) -> None:
        if refused is not None and data is not None and "dry_run" not in data:
            # Fields after a dropped file are not read: keep the safe choice ticked.
            data = data.copy()
            data["dry_run"] = "on"
        super().__init__(data, *args, refused=refused, **kwargs)

    def clean_file(self) -> list[str]:
        data, name = self.uploaded_bytes("file")
        return import_lines(data, name)

    def uploaded_bytes(self, field_name: str) -> tuple[bytes, str]:
        """The bytes and display name of an uploaded file, refused when over the import cap."""
        upload = (
            UploadForm.clean_file(self) if field_name == "file" else self.cleaned_data[field_name]
        )
        name = display_name(upload.name or "", fallback="the file")
        limit = settings.EVALBUILDER_MAX_IMPORT_BYTES
        data = read_capped(upload, limit)
        if data is None:
            raise forms.ValidationError(
                f"{name} is larger than {human_size(limit)}, the largest import accepted."
            )
        return data, name


def import_lines(data: bytes, name: str) -> list[str]:
    """The lines of an import file, judged by its content: UTF-8 text that starts as JSON Lines.

    Each line is checked as a task by the import itself; this refuses what is not even text
    (a PDF or a ZIP renamed .jsonl) with a message that says what the file is.
    """
    if not data.strip():
        raise forms.ValidationError(f"{name} is empty.")
    what = describe_binary(data)
    if what is not None:
        raise forms.ValidationError(
            f"{name} is {what}, not JSON Lines text. Upload a UTF-8 text file with one task "
            "per line, as the export writes it."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise forms.ValidationError(
            f"{name} is not UTF-8 text (byte {error.start}). Save it as UTF-8 and upload it again."
        ) from None
    # Lines end at "\n" only: JSON text may hold U+2028 and other breaks Python splits on.
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        # JSON allows no raw control character but tab and carriage return outside strings.
        control = next((c for c in line if c < " " and c not in "\t\r"), None)
        if control is not None:
            raise forms.ValidationError(
                f"{name}: line {number} holds the control character U+{ord(control):04X}, "
                "so the file is not text."
            )
    first = next(number for number, line in enumerate(lines, 1) if line.strip())
    if not lines[first - 1].lstrip().startswith("{"):
        raise forms.ValidationError(
            f"{name} is not JSON Lines: line {first} does not start a JSON object ('{{'). "
            "Each line holds one task."
        )
    return lines

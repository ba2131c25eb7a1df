"""The import page's form: a tasks file in one of the formats, and what the format lacks."""

from __future__ import annotations

from django import forms
from django.core.validators import validate_slug

from interop.conversion import DEFAULT_PASS_THRESHOLD, ReferenceFileError, ZipFiles
from interop.formats import IMPORTERS
from occupations.attachments import describe_binary
from occupations.forms import ImportForm, OccupationChoiceField, import_lines

JSON_LINES = "jsonl"


class FormatImportForm(ImportForm):
    """A tasks file in one of the formats; once clean, cleaned_data["file"] holds its lines
    (JSON Lines) or its text (the other formats)."""

    format = forms.ChoiceField(
        choices=[(JSON_LINES, "JSON Lines (evalbuilder's task format)")]
        + [(name, importer.label) for name, importer in IMPORTERS.items()],
        initial=JSON_LINES,
        widget=forms.RadioSelect,
    )
    file = forms.FileField(
        label="Tasks file",
        help_text="JSON Lines: docs/task-format.md. HealthBench and GDPval: docs/formats.md.",
    )
    occupation = OccupationChoiceField(
        queryset=None,
        required=False,
        help_text="HealthBench and GDPval: the occupation of every task. Left empty, GDPval "
        "rows are matched by their occupation's title.",
    )
    minutes = forms.IntegerField(
        min_value=1,
        max_value=60 * 24 * 5,
        required=False,
        label="Estimated minutes",
        help_text="HealthBench and GDPval record no time: minutes a practitioner needs per task.",
    )
    pass_threshold = forms.FloatField(
        min_value=0, max_value=1, required=False, initial=DEFAULT_PASS_THRESHOLD
    )
    reference = forms.CharField(
        label="Reference solution for tasks without one",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="GDPval rows, and HealthBench examples without an ideal completion, carry "
        "none; reviewers will see this text until the panel writes one.",
    )
    prefix = forms.CharField(
        max_length=40,
        required=False,
        validators=[validate_slug],
        label="Slug prefix",
        help_text="Put before every slug, so that a file imported twice does not collide.",
    )
    reference_files = forms.FileField(
        required=False,
        label="Reference files (zip)",
        help_text="GDPval: a zip archive holding the files the rows name, at those paths.",
    )
    field_order = [
        "format",
        "file",
        "occupation",
        "minutes",
        "pass_threshold",
        "reference",
        "prefix",
        "reference_files",
        "dry_run",
    ]

    def __init__(self, *args, occupations, refused_files=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["occupation"].queryset = occupations.order_by("code")
        self.refused_files = refused_files
        if refused_files is not None:
            self.fields["reference_files"].required = False

    def clean_file(self) -> list[str] | str:
        data, name = self.uploaded_bytes("file")
        if self.cleaned_data.get("format") == "gdpval" and not data.lstrip().startswith(b"{"):
            return csv_text(data, name)
        lines = import_lines(data, name)
        return lines if self.cleaned_data.get("format") == JSON_LINES else "\n".join(lines)

    def clean_reference_files(self) -> ZipFiles | None:
        if self.refused_files is not None:
            raise forms.ValidationError(str(self.refused_files))
        if not self.cleaned_data.get("reference_files"):
            return None
        data, name = self.uploaded_bytes("reference_files")
        try:
            return ZipFiles(data, name)
        except ReferenceFileError as error:
            raise forms.ValidationError(f"{error}.") from None


def csv_text(data: bytes, name: str) -> str:
    """The text of a CSV file, refused by what it is when it is not UTF-8 text."""
    if not data.strip():
        raise forms.ValidationError(f"{name} is empty.")
    what = describe_binary(data)
    if what is not None:
        raise forms.ValidationError(f"{name} is {what}, not a CSV or JSON Lines text file.")
    try:
        return data.decode("utf-8-sig").replace("\r\n", "\n")
    except UnicodeDecodeError as error:
        raise forms.ValidationError(
            f"{name} is not UTF-8 text (byte {error.start}). Save it as UTF-8 and upload it again."
        ) from None

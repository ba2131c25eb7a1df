"""The admin form that imports official files from the browser."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpRequest

from evalbuilder.uploads import RefusedUpload, display_name, human_size, read_capped
from occupations.importers.core import ImportReport
from occupations.importers.crosswalk import import_crosswalk
from occupations.importers.oews import import_oews
from occupations.importers.onet import files_from_zip, import_onet
from occupations.importers.taxonomy_csv import import_taxonomy_csv


def can_import_taxonomies(request: HttpRequest) -> bool:
    """Superusers, and staff allowed to add taxonomies, may import official files."""
    user = request.user
    return user.is_active and (user.is_superuser or user.has_perm("occupations.add_taxonomy"))


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field: the .txt files of an O*NET release."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item] or [single(None, initial)]
        return [single(data, initial)]


class TaxonomyImportForm(forms.Form):
    """Which kind of files, the files, and the options that kind needs."""

    class Kind:
        ONET = "onet"
        OEWS = "oews"
        TAXONOMY = "taxonomy"
        CROSSWALK = "crosswalk"

    kind = forms.ChoiceField(
        choices=[
            (Kind.ONET, "O*NET database (text release)"),
            (Kind.OEWS, "BLS OEWS national employment and wages"),
            (Kind.TAXONOMY, "Taxonomy CSV (code, title, level, parent)"),
            (Kind.CROSSWALK, "Crosswalk CSV (source_code, target_code)"),
        ]
    )
    files = MultipleFileField(
        help_text=(
            "O*NET: the .zip, or its .txt files (at most "
            f"{settings.DATA_UPLOAD_MAX_NUMBER_FILES} files at once, not the whole folder). "
            "Others: one file."
        ),
        error_messages={"required": "Choose the file(s) to import."},
    )
    release = forms.CharField(
        required=False, max_length=32, help_text="O*NET release, e.g. 26.3 (default: Read Me.txt)."
    )
    soc = forms.CharField(
        initial="SOC 2018",
        max_length=100,
        required=False,
        label="SOC taxonomy",
        help_text="O*NET: titles major groups, target of the crosswalk. OEWS: the taxonomy "
        "updated.",
    )
    source = forms.CharField(
        required=False,
        max_length=128,
        help_text="OEWS: label of the figures (default from the file name). Taxonomy: who "
        "publishes it.",
    )
    name = forms.CharField(required=False, max_length=64, help_text="Taxonomy CSV: e.g. ISCO.")
    version = forms.CharField(required=False, max_length=32, help_text="Taxonomy CSV: e.g. 08.")
    country = forms.CharField(required=False, max_length=2, help_text="Taxonomy CSV: e.g. GB.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    licence = forms.CharField(required=False, max_length=64)
    credit = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    crosswalk_from = forms.CharField(
        required=False, max_length=100, help_text="Crosswalk: e.g. ISCO 08."
    )
    crosswalk_to = forms.CharField(
        required=False, max_length=100, help_text="Crosswalk: e.g. SOC 2018."
    )
    replace = forms.BooleanField(
        required=False, help_text="Crosswalk: remove its links that the file lacks."
    )
    dry_run = forms.BooleanField(required=False, initial=True, label="Check only (dry run)")

    def __init__(self, data=None, *args: Any, refused: RefusedUpload | None = None, **kwargs):
        if refused is not None and data is not None and "dry_run" not in data:
            # Fields after a dropped file are not read: keep the safe choice ticked.
            data = data.copy()
            data["dry_run"] = "on"
        super().__init__(data, *args, **kwargs)
        self.refused = refused
        if refused is not None:
            self.fields["files"].required = False

    def clean_files(self) -> dict[str, bytes]:
        if self.refused is not None:
            raise forms.ValidationError(str(self.refused))
        limit = settings.EVALBUILDER_MAX_TAXONOMY_BYTES
        files: dict[str, bytes] = {}
        for upload in self.cleaned_data["files"]:
            name = display_name(upload.name or "", fallback="file")
            data = read_capped(upload, limit)
            if data is None:
                raise forms.ValidationError(
                    f"{name} is larger than {human_size(limit)}, the largest file accepted."
                )
            files[name] = data
        return files

    def clean(self) -> dict:
        cleaned = super().clean()
        kind, files = cleaned.get("kind"), cleaned.get("files") or {}
        if kind != self.Kind.ONET and len(files) > 1:
            self.add_error("files", "Choose one file for this kind of import.")
        if kind == self.Kind.TAXONOMY:
            for name in ("name", "version"):
                if not cleaned.get(name):
                    self.add_error(name, "A taxonomy CSV needs the taxonomy's name and version.")
        if kind == self.Kind.CROSSWALK:
            for name in ("crosswalk_from", "crosswalk_to"):
                if not cleaned.get(name):
                    self.add_error(name, "A crosswalk needs both taxonomies.")
        return cleaned

    def run_import(self, user: Any) -> ImportReport:
        """Import the files; raises TaxonomyImportError listing every problem."""
        data = self.cleaned_data
        kind, files, dry_run = data["kind"], data["files"], data["dry_run"]
        soc = data["soc"] or "SOC 2018"
        (name, content), *_ = files.items()
        if kind == self.Kind.ONET:
            origin = ""
            if len(files) == 1 and name.lower().endswith(".zip"):
                origin, files = name, files_from_zip(name, content)
            return import_onet(
                files, release=data["release"], soc=soc, dry_run=dry_run, user=user, origin=origin
            )
        if kind == self.Kind.OEWS:
            return import_oews(
                name, content, taxonomy=soc, source=data["source"], dry_run=dry_run, user=user
            )
        if kind == self.Kind.TAXONOMY:
            return import_taxonomy_csv(
                name,
                content,
                taxonomy_name=data["name"],
                version=data["version"],
                country=data["country"],
                description=data["description"],
                source=data["source"],
                licence=data["licence"],
                credit=data["credit"],
                dry_run=dry_run,
                user=user,
            )
        return import_crosswalk(
            name,
            content,
            source=data["crosswalk_from"],
            target=data["crosswalk_to"],
            replace=data["replace"],
            dry_run=dry_run,
            user=user,
        )

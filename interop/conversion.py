"""What every exchange format shares on its way in and out: import options, rubric tags,
titles, reference files read safely from a folder or a zip, and problems named in the
source format's own field names.
"""

from __future__ import annotations

import io
import lzma
import posixpath
import re
import uuid
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import zstandard
from django.conf import settings
from django.core.files.base import ContentFile
from django.utils.text import slugify

from evalbuilder.uploads import display_name, human_size
from occupations import attachments
from occupations.models import RubricCriterion, TaskVersion
from occupations.seeding import DEFAULT_TAXONOMY, TASK_SCHEMA, SeedProblem, TaskRecord
from occupations.statements import StatementKey

EVALBUILDER = "evalbuilder"
"""The key of the object in each exported record that holds our own fields, for a lossless
round trip; an importer that finds it takes those fields from it."""

CITATIONS = "task_statements"
"""The field of the `evalbuilder` object that lists the task statements a version cites,
as the task record's field of the same name does."""

DEFAULT_PASS_THRESHOLD: float = TaskVersion._meta.get_field("pass_threshold").default
TITLE_CHARACTERS = 80
CRITICAL_LABEL = "evalbuilder:critical"
AXIS_PREFIX = "axis:"
AXIS_TAGS = {
    # HealthBench's axes; ours have the same names but one.
    "communication_quality": RubricCriterion.Tag.COMMUNICATION.value,
}
TAG_AXES = {tag: axis for axis, tag in AXIS_TAGS.items()}


@dataclass(frozen=True)
class ImportOptions:
    """What the importer says about every task of a file that the file itself does not say.

    A record that carries an `evalbuilder` object takes these fields from it instead.
    """

    occupation: str = ""
    """Occupation code of every task; empty: none given (GDPval then matches titles)."""
    taxonomy: str = DEFAULT_TAXONOMY
    """Taxonomy release of the occupation code, e.g. 'SOC 2018'."""
    minutes: int | None = None
    """Estimated minutes of every task: neither HealthBench nor GDPval records them."""
    pass_threshold: float = DEFAULT_PASS_THRESHOLD
    """Rubric score at or above which an attempt succeeds."""
    reference: str = ""
    """Reference solution of the tasks whose record has none; empty: such a record is a
    problem."""
    deliverable: str = ""
    """What must be handed back; empty: the format's own sentence."""
    prefix: str = ""
    """Put before every slug, so that tasks imported twice do not collide."""
    files: ReferenceFiles | None = None
    """Where the reference files named by the records are read from (GDPval)."""


@dataclass(frozen=True)
class ReferenceFile:
    """A file to attach to an imported task, checked already."""

    name: str
    data: bytes

    def as_upload(self) -> ContentFile:
        """The file as add_attachment takes an upload."""
        return ContentFile(self.data, name=self.name)


@dataclass
class ImportedTask:
    """A record of a source format turned into our task record, with its files."""

    record: TaskRecord
    files: list[ReferenceFile] = field(default_factory=list)
    field_names: dict[str, str] = field(default_factory=dict)
    """Our field (or JSON path, '$.rubric[2].points') -> the source's name for it, so that a
    problem found by our checks names the field the user wrote."""
    citations: list[StatementKey] = field(default_factory=list)
    """The task statements the version cited where it was exported."""


def problem(source: str, record: str, field_name: str, message: str) -> SeedProblem:
    """A problem of one line or row, naming the field in the source format's own words."""
    return SeedProblem(source, record, field_name, message)


def renamed(problems: Iterable[SeedProblem], imported: list[ImportedTask]) -> list[SeedProblem]:
    """Problems found by our task checks, with each field named as its source names it."""
    names = {task.record.source: task.field_names for task in imported}
    result = []
    for found in problems:
        field_names = names.get(found.file, {})
        source_name = _source_name(found, field_names)
        if source_name is not None:
            found = replace(found, field=source_name, path="")
        result.append(found)
    return result


def _source_name(found: SeedProblem, field_names: dict[str, str]) -> str | None:
    path = found.path
    match = re.fullmatch(r"\$\.rubric\[(\d+)\](?:\.(\w+))?", path)
    if match and "rubric" in field_names:
        item = f"{field_names['rubric']}[{match.group(1)}]"
        if match.group(2):
            return f"{item}.{field_names.get('rubric.' + match.group(2), match.group(2))}"
        return item
    return field_names.get(found.field)


# --- text -------------------------------------------------------------------------------


def title_from(text: str) -> str:
    """A title made of the first words of a text, cut at a word under TITLE_CHARACTERS."""
    words = re.sub(r"[#*_`>]+", " ", text).split()
    title = ""
    for word in words:
        longer = f"{title} {word}".strip()
        if len(longer) > TITLE_CHARACTERS - 1:
            return f"{title}…" if title else word[: TITLE_CHARACTERS - 1] + "…"
        title = longer
    return title


def slug_for(options: ImportOptions, identifier: Any, fallback: str) -> str:
    """The slug of an imported task: the prefix, then the source's id made a slug."""
    base = slugify(str(identifier)) if isinstance(identifier, str | int) else ""
    return f"{options.prefix}{base or fallback}"[:120]


def tag_and_critical(labels: Any) -> tuple[str, bool]:
    """Our tag and critical flag from a list of labels such as ['axis:accuracy']."""
    tag, critical = RubricCriterion.Tag.ACCURACY.value, False
    found_axis = False
    for label in labels if isinstance(labels, list) else []:
        if not isinstance(label, str):
            continue
        if label == CRITICAL_LABEL:
            critical = True
        elif label.startswith(AXIS_PREFIX) and not found_axis:
            axis = label.removeprefix(AXIS_PREFIX)
            tag, found_axis = AXIS_TAGS.get(axis, axis), True
    return tag, critical


def labels_for(criterion: RubricCriterion) -> list[str]:
    """The labels of a criterion: its axis, and evalbuilder:critical when it is critical."""
    labels = [f"{AXIS_PREFIX}{TAG_AXES.get(criterion.tag, criterion.tag)}"]
    if criterion.critical:
        labels.append(CRITICAL_LABEL)
    return labels


def rubric_item_id(version: TaskVersion, criterion: RubricCriterion) -> str:
    """A criterion's id in an export: the same in every export of the version."""
    name = f"{version.task.slug}/v{version.number}/{criterion.order}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"evalbuilder:{name}"))


def evalbuilder_fields(record: dict) -> dict:
    """Our own fields of an exported task record, less those the format carries itself,
    with the task statements the version cites (an empty list when it cites none)."""
    fields = {
        name: value
        for name, value in record.items()
        if name not in ("rubric", "reference_solution")
    }
    fields.setdefault(CITATIONS, [])
    return fields


def evalbuilder_field_names(format_names: dict[str, str], carried: set[str]) -> dict[str, str]:
    """How problems name fields of a record with an `evalbuilder` object: each task field
    the format does not carry itself (`carried`) is `evalbuilder.<field>`."""
    ours = {
        name: f"{EVALBUILDER}.{name}" for name in TASK_SCHEMA["properties"] if name not in carried
    }
    return {**format_names, **ours}


def read_citations(value: Any, complain) -> list[StatementKey]:
    """The statements an `evalbuilder.task_statements` list names; complain(field, message)
    for each entry that is not {taxonomy, occupation, statement_id}."""
    name = f"{EVALBUILDER}.{CITATIONS}"
    if value is None:
        return []
    if not isinstance(value, list):
        complain(name, "must be a list of {taxonomy, occupation, statement_id}")
        return []
    keys = []
    for index, item in enumerate(value):
        number = item.get("statement_id") if isinstance(item, dict) else None
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("taxonomy"), str)
            or not isinstance(item.get("occupation"), str)
            or not isinstance(number, int)
            or isinstance(number, bool)
            or number < 1
        ):
            complain(
                f"{name}[{index}]",
                "must be {taxonomy, occupation, statement_id} with a positive whole statement id",
            )
            continue
        keys.append((item["taxonomy"], item["occupation"], number))
    return keys


# --- reference files ----------------------------------------------------------------------


class ReferenceFileError(ValueError):
    """A reference file that cannot be read; the message says why."""


class ReferenceFiles(Protocol):
    """Where the files a record names are read from."""

    def read(self, path: str) -> bytes:
        """The bytes of the file at `path`, relative to the source; ReferenceFileError."""
        ...


def _relative(path: str) -> str:
    """`path` normalised, refused when absolute or when it climbs out of its folder."""
    if not isinstance(path, str) or not path.strip():
        raise ReferenceFileError("must be the path of a file")
    cleaned = path.replace("\\", "/")
    normal = posixpath.normpath(cleaned)
    if PurePosixPath(cleaned).is_absolute() or re.match(r"^[A-Za-z]:", cleaned):
        raise ReferenceFileError(f"{path!r} is an absolute path; give it relative to the folder")
    if normal == ".." or normal.startswith("../"):
        raise ReferenceFileError(f"{path!r} points outside the folder of reference files")
    return normal


class FolderFiles:
    """Reference files in a folder on disk; no path may lead out of it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()

    def read(self, path: str) -> bytes:
        target = (self.folder / _relative(path)).resolve()
        if not target.is_relative_to(self.folder):
            raise ReferenceFileError(f"{path!r} points outside {self.folder}")
        if not target.is_file():
            raise ReferenceFileError(f"{path!r} is not a file in {self.folder}")
        limit = attachments.max_attachment_bytes()
        if target.stat().st_size > limit:
            raise ReferenceFileError(f"{path!r} is larger than the limit of {human_size(limit)}")
        return target.read_bytes()


ZIP_ZSTANDARD = 93
"""The zip compression method of Zstandard. Inspect AI writes every member of an .eval log
with it, and Python's zipfile reads it only from 3.14 on, so it is read here with zstandard."""

_READ_CHUNK = 1024 * 1024


class ZipArchiveError(ValueError):
    """A zip archive, or one of its members, that cannot be read; the message says why."""


class BoundedZip:
    """A zip archive read in memory under caps: how many members it may hold, how many bytes
    one member and all members read may unpack to. A bomb or a damaged member is refused
    with a ZipArchiveError that names it; nothing is unpacked to disk.
    """

    def __init__(
        self, data: bytes, name: str, *, max_members: int, member_bytes: int, total_bytes: int
    ) -> None:
        self.data = data
        self.member_bytes = member_bytes
        self.total_bytes = total_bytes
        self.unpacked = 0
        try:
            self.archive = zipfile.ZipFile(io.BytesIO(data))
            members = self.archive.infolist()
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as error:
            raise ZipArchiveError(f"{name} is not a zip archive that can be opened") from error
        if len(members) > max_members:
            raise ZipArchiveError(f"{name} holds more than {max_members} files")
        self.members = {
            posixpath.normpath(info.filename.replace("\\", "/")): info
            for info in members
            if not info.is_dir()
        }

    def close(self) -> None:
        """Close the archive."""
        self.archive.close()

    def read(self, info: zipfile.ZipInfo, label: str) -> bytes:
        """The unpacked bytes of a member; `label` names it in every refusal."""
        if info.file_size > self.member_bytes:
            raise ZipArchiveError(
                f"{label} is larger than the limit of {human_size(self.member_bytes)}"
            )
        try:
            if info.compress_type == ZIP_ZSTANDARD:
                data = self._read_zstandard(info, label)
            else:
                with self.archive.open(info) as member:
                    data = member.read(self.member_bytes + 1)
        except NotImplementedError as error:
            raise ZipArchiveError(
                f"{label} is packed with a compression method that cannot be read "
                f"({info.compress_type})"
            ) from error
        except RuntimeError as error:  # zipfile's word for an encrypted member
            raise ZipArchiveError(f"{label} is encrypted") from error
        except (
            zipfile.BadZipFile,
            zlib.error,
            lzma.LZMAError,
            zstandard.ZstdError,
            EOFError,
            ValueError,
            OSError,
        ) as error:
            raise ZipArchiveError(f"{label} is damaged in the zip archive") from error
        self.unpacked += len(data)
        if len(data) > self.member_bytes or self.unpacked > self.total_bytes:
            raise ZipArchiveError(f"{label} unpacks to more than the limit allows")
        return data

    def _read_zstandard(self, info: zipfile.ZipInfo, label: str) -> bytes:
        if info.flag_bits & 0x1:
            raise RuntimeError("encrypted")
        start = info.header_offset
        header = self.data[start : start + 30]
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"bad local file header of {label}")
        name_length = int.from_bytes(header[26:28], "little")
        extra_length = int.from_bytes(header[28:30], "little")
        begin = start + 30 + name_length + extra_length
        packed = self.data[begin : begin + info.compress_size]
        if len(packed) != info.compress_size:
            raise EOFError(f"{label} is cut short")
        reader = zstandard.ZstdDecompressor().stream_reader(packed, read_across_frames=True)
        chunks, size = [], 0
        with reader:
            while size <= self.member_bytes:
                chunk = reader.read(_READ_CHUNK)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        data = b"".join(chunks)
        if size <= self.member_bytes and zlib.crc32(data) != info.CRC:
            raise zipfile.BadZipFile(f"bad CRC-32 for {label}")
        return data


class ZipFiles:
    """Reference files in an uploaded zip archive, read in memory under size caps.

    Paths are relative to the archive's root or, when every file lies in one top folder
    (as in a zip of an exported folder), to that folder.
    """

    def __init__(self, data: bytes, name: str) -> None:
        try:
            self.archive = BoundedZip(
                data,
                name,
                max_members=attachments.MAX_ARCHIVE_MEMBERS,
                member_bytes=attachments.max_attachment_bytes(),
                total_bytes=settings.EVALBUILDER_MAX_ATTACHMENT_UNPACKED_BYTES,
            )
        except ZipArchiveError as error:
            raise ReferenceFileError(str(error)) from error
        names = list(self.archive.members)
        tops = {member.split("/", 1)[0] for member in names}
        single_top = len(tops) == 1 and all("/" in member for member in names)
        self.root = f"{tops.pop()}/" if single_top else ""

    def read(self, path: str) -> bytes:
        relative = _relative(path)
        members = self.archive.members
        info = members.get(relative) or members.get(f"{self.root}{relative}")
        if info is None:
            raise ReferenceFileError(f"{path!r} is not in the zip archive of reference files")
        try:
            return self.archive.read(info, repr(path))
        except ZipArchiveError as error:
            raise ReferenceFileError(str(error)) from error


def checked_file(files: ReferenceFiles, path: str) -> ReferenceFile:
    """A reference file read and put through every check an attached file gets."""
    data = files.read(path)
    name = display_name(PurePosixPath(path.replace("\\", "/")).name)
    if not data:
        raise ReferenceFileError(f"{path!r} is empty")
    try:
        kind = attachments.sniff_kind(data, name)
        attachments.extract_text(kind, data, original_name=name)
    except attachments.AttachmentError as error:
        raise ReferenceFileError(f"{path!r}: {error.problem}") from error
    return ReferenceFile(name, data)

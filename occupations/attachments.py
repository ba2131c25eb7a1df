"""Input material that domain experts attach to a task version: checked, stored, text extracted.

Uploads come from people outside the team, so every file is judged by its content (never by
its name or the browser's content type), read under a size cap, unpacked under a size cap, and
refused with a message that names the file and says what is wrong.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
import zlib
from enum import StrEnum
from pathlib import PurePath
from xml.etree import ElementTree

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.text import get_valid_filename

from occupations.models import Attachment, LockedVersionError, TaskVersion

MAX_ARCHIVE_MEMBERS = 1000  # a Word or Excel file has a few dozen parts; thousands is a bomb
MAX_EXTRACTED_CHARS = 200_000
MAX_STORED_STEM = 60  # the upload_to folder and the storage's clash suffix share 100 characters
READ_CHUNK_BYTES = 64 * 1024

ACCEPTED = "Attach a PDF, Word (.docx), Excel (.xlsx), CSV, plain-text, PNG or JPEG file."


class AttachmentKind(StrEnum):
    """The type of an attachment, as sniffed from its content."""

    PDF = "pdf"
    XLSX = "xlsx"
    DOCX = "docx"
    PNG = "png"
    JPEG = "jpeg"
    CSV = "csv"
    TXT = "txt"

    @property
    def extension(self) -> str:
        return ".jpg" if self is AttachmentKind.JPEG else f".{self.value}"


class AttachmentError(ValueError):
    """A file that cannot be attached; the message names the file and says what is wrong."""

    def __init__(self, original_name: str, problem: str) -> None:
        self.original_name = original_name
        self.problem = problem
        super().__init__(f"{original_name}: {problem}")


def max_attachment_bytes() -> int:
    """The largest upload accepted, read at call time so that a changed setting takes effect."""
    return settings.EVALBUILDER_MAX_ATTACHMENT_BYTES


def max_unpacked_bytes() -> int:
    """The most a Word or Excel file may unpack to, in bytes."""
    return settings.EVALBUILDER_MAX_ATTACHMENT_UNPACKED_BYTES


# --- services -----------------------------------------------------------------------------


def add_attachment(
    version: TaskVersion,
    uploaded_file: UploadedFile,
    user: AbstractBaseUser | AnonymousUser | None,
) -> Attachment:
    """Check an upload, extract its text and store it with the version, all or nothing.

    Raises AttachmentError for a file that is refused and LockedVersionError for a
    submitted version. A larger transaction around this call that rolls back later leaves
    the stored file behind (Django has no rollback hook); the row is rolled back with it.
    """
    original_name = (PurePath(uploaded_file.name or "").name or "attachment")[:255]
    _refuse_if_locked(version, original_name)
    data, sha256 = _read_capped(uploaded_file, original_name)
    kind = sniff_kind(data, original_name)
    extracted_text = extract_text(kind, data, original_name=original_name)

    stored_name = ""
    attachment = Attachment(
        task_version=version,
        original_name=original_name,
        kind=kind,
        size=len(data),
        sha256=sha256,
        extracted_text=extracted_text,
        uploaded_by=user if getattr(user, "is_authenticated", False) else None,
    )
    try:
        with transaction.atomic():
            # Read the version again under a row lock: it may have been submitted meanwhile.
            _refuse_if_locked(
                TaskVersion.objects.select_for_update().get(pk=version.pk), original_name
            )
            attachment.file.save(_storage_name(original_name, kind), ContentFile(data), save=False)
            stored_name = attachment.file.name
            attachment.save()
    except BaseException:
        if stored_name:
            Attachment.file.field.storage.delete(stored_name)
        raise
    return attachment


def remove_attachment(attachment: Attachment) -> None:
    """Delete an attachment of a draft version, its row and its file."""
    with transaction.atomic():
        version = TaskVersion.objects.select_for_update().get(pk=attachment.task_version_id)
        _refuse_if_locked(version, attachment.original_name)
        storage, stored_name = attachment.file.storage, attachment.file.name
        attachment.delete()
        # The file goes once the deletion is committed, so a rollback keeps row and file together.
        transaction.on_commit(lambda: storage.delete(stored_name))


def copy_attachments(source_version: TaskVersion, target_version: TaskVersion) -> list[Attachment]:
    """Give a new draft its own copies of the attachments of the version it was started from.

    Each copy is a new file, so removing it from the draft leaves the submitted version whole.
    """
    copies: list[Attachment] = []
    stored_names: list[str] = []
    try:
        with transaction.atomic():
            target = TaskVersion.objects.select_for_update().get(pk=target_version.pk)
            for original in source_version.attachments.order_by("created_at", "pk"):
                _refuse_if_locked(target, original.original_name)
                with original.file.open("rb") as stored:
                    data = stored.read()
                if hashlib.sha256(data).hexdigest() != original.sha256:
                    raise AttachmentError(
                        original.original_name,
                        "the stored copy no longer matches what was uploaded; attach it again.",
                    )
                duplicate = Attachment(
                    task_version=target,
                    original_name=original.original_name,
                    kind=original.kind,
                    size=original.size,
                    sha256=original.sha256,
                    extracted_text=original.extracted_text,
                    uploaded_by_id=original.uploaded_by_id,
                )
                duplicate.file.save(
                    PurePath(original.file.name).name, ContentFile(data), save=False
                )
                stored_names.append(duplicate.file.name)
                duplicate.save()
                copies.append(duplicate)
    except BaseException:
        for stored_name in stored_names:
            Attachment.file.field.storage.delete(stored_name)
        raise
    return copies


def _refuse_if_locked(version: TaskVersion, original_name: str) -> None:
    if version.is_locked:
        raise LockedVersionError(
            f"{version} was submitted and cannot change, so {original_name} cannot be attached "
            "to it or removed from it; start a new version instead."
        )


def _read_capped(uploaded_file: UploadedFile, original_name: str) -> tuple[bytes, str]:
    """The upload's bytes and SHA-256, refused as soon as more than the cap has been read."""
    limit = max_attachment_bytes()
    too_large = AttachmentError(
        original_name, f"the file is larger than the limit of {_human_size(limit)}."
    )
    if uploaded_file.size is not None and uploaded_file.size > limit:
        raise too_large  # the declared size is enough to refuse; it is not trusted to accept
    data = bytearray()
    digest = hashlib.sha256()
    for chunk in uploaded_file.chunks(READ_CHUNK_BYTES):
        data += chunk
        if len(data) > limit:
            raise too_large
        digest.update(chunk)
    if not data:
        raise AttachmentError(original_name, "the file is empty.")
    return bytes(data), digest.hexdigest()


def _storage_name(original_name: str, kind: AttachmentKind) -> str:
    """A safe name on disk whose extension matches the content, so it is never served as HTML."""
    try:
        stem = get_valid_filename(PurePath(original_name).stem)
    except SuspiciousFileOperation:
        stem = "attachment"
    return f"{stem[:MAX_STORED_STEM]}{kind.extension}"


def _human_size(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size:,} bytes"


# --- sniffing -----------------------------------------------------------------------------

PDF_MAGIC = b"%PDF-"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .doc/.xls, and encrypted .docx/.xlsx
EXECUTABLE_MAGICS = (
    b"MZ",  # Windows
    b"\x7fELF",  # Linux
    b"\xfe\xed\xfa\xce",  # macOS, 32 and 64 bit, either byte order, and universal binaries
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
)
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# Browsers render text that starts like this as a page (WHATWG MIME sniffing), scripts included.
MARKUP = re.compile(
    r"\A\s*(<!doctype\s+html|<\?xml|<!--"
    r"|<(html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p|svg)[\s>/])",
    re.IGNORECASE,
)


def sniff_kind(data: bytes, original_name: str) -> AttachmentKind:
    """The attachment kind of these bytes; the name only tells CSV from plain text."""
    if data.startswith(PDF_MAGIC):
        return AttachmentKind.PDF
    if data.startswith(PNG_MAGIC):
        return AttachmentKind.PNG
    if data.startswith(JPEG_MAGIC):
        return AttachmentKind.JPEG
    if data.startswith(ZIP_MAGIC):
        return _sniff_office(data, original_name)
    if data.startswith(OLE_MAGIC):
        raise AttachmentError(
            original_name,
            "this is an old-format Office file (.doc or .xls) or a password-protected one. "
            "Remove any password and save it as .docx or .xlsx, or as PDF.",
        )
    if data.startswith(UTF16_BOMS):
        raise AttachmentError(
            original_name, "this text is saved as UTF-16. Save it as UTF-8 and attach it again."
        )
    text = _as_text(data)
    if text is None:
        if data.startswith(EXECUTABLE_MAGICS):
            raise AttachmentError(original_name, f"this is a program, not a document. {ACCEPTED}")
        if b"\x00" not in data:  # text in a legacy encoding such as Windows-1252
            raise AttachmentError(
                original_name, "this text is not saved as UTF-8. Save it as UTF-8 and attach again."
            )
        raise AttachmentError(original_name, f"this type of file is not accepted. {ACCEPTED}")
    if MARKUP.match(text):
        raise AttachmentError(
            original_name,
            "this is a web page or XML file, which is not accepted. Save it as PDF or plain text.",
        )
    if original_name.lower().endswith(".csv") and _is_consistent_csv(text):
        return AttachmentKind.CSV
    return AttachmentKind.TXT


def _sniff_office(data: bytes, original_name: str) -> AttachmentKind:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as error:
        raise AttachmentError(
            original_name, "this archive is damaged and cannot be opened."
        ) from error
    if any(name.lower().endswith("vbaproject.bin") for name in names):
        raise AttachmentError(
            original_name,
            "this file contains macros, which are not accepted. Save it without macros "
            "(as .docx or .xlsx) and attach it again.",
        )
    if "[Content_Types].xml" in names:
        if "word/document.xml" in names:
            return AttachmentKind.DOCX
        if "xl/workbook.xml" in names:
            return AttachmentKind.XLSX
    raise AttachmentError(
        original_name,
        f"this is a ZIP archive, not a Word or Excel file; attach the files inside it. {ACCEPTED}",
    )


def _as_text(data: bytes) -> str | None:
    """The UTF-8 text of these bytes (a byte-order mark allowed), or None for binary data."""
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _is_consistent_csv(text: str) -> bool:
    try:
        dialect: type[csv.Dialect] = csv.Sniffer().sniff(text[: 64 * 1024], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        widths = {len(row) for row in csv.reader(io.StringIO(text), dialect) if row}
    except csv.Error:
        return False
    return len(widths) == 1


# --- text extraction ----------------------------------------------------------------------


def extract_text(kind: str, data: bytes, *, original_name: str = "attachment") -> str:
    """The text a text-only model is given for this attachment, capped in length.

    Images give an empty string: they are passed to models that take images. A file whose
    text cannot be read is refused with AttachmentError.
    """
    kind = AttachmentKind(kind)
    if kind is AttachmentKind.PDF:
        text = _pdf_text(data, original_name)
    elif kind is AttachmentKind.XLSX:
        text = _xlsx_text(data, original_name)
    elif kind is AttachmentKind.DOCX:
        text = _docx_text(data, original_name)
    elif kind in (AttachmentKind.CSV, AttachmentKind.TXT):
        decoded = _as_text(data)
        if decoded is None:
            raise AttachmentError(original_name, "this is not readable UTF-8 text.")
        text = decoded
    else:
        text = ""
    return _truncate(text)


def _truncate(text: str) -> str:
    if len(text) <= MAX_EXTRACTED_CHARS:
        return text
    return (
        text[:MAX_EXTRACTED_CHARS]
        + f"\n\n[Text truncated: only the first {MAX_EXTRACTED_CHARS:,} characters are kept.]"
    )


def _pdf_text(data: bytes, original_name: str) -> str:
    from pypdf import PdfReader

    damaged = AttachmentError(
        original_name, "this PDF is damaged and its text cannot be read. Save it again as PDF."
    )
    pages: list[str] = []
    length = 0
    # pypdf fails on hostile or broken input with many kinds of exception, none of them ours.
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise AttachmentError(
                original_name, "this PDF is protected by a password. Remove it and attach again."
            )
        if not reader.pages:
            raise damaged
        for page in reader.pages:
            pages.append(page.extract_text() or "")
            length += len(pages[-1])
            if length > MAX_EXTRACTED_CHARS:
                break
    except AttachmentError:
        raise
    except Exception as error:
        raise damaged from error
    return "\n\n".join(pages)


def _xlsx_text(data: bytes, original_name: str) -> str:
    from openpyxl import load_workbook

    _check_office_archive(data, original_name)
    blocks: list[str] = []
    length = 0
    try:
        # data_only: the values Excel last calculated, which is what the expert saw.
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            for sheet in workbook.worksheets:
                lines = [f"## Sheet: {sheet.title}"]
                for row in sheet.iter_rows(values_only=True):
                    cells = ["" if value is None else str(value) for value in row]
                    while cells and not cells[-1]:
                        cells.pop()
                    if cells:
                        lines.append("\t".join(cells))
                        length += len(lines[-1])
                    if length > MAX_EXTRACTED_CHARS:
                        break
                blocks.append("\n".join(lines))
                if length > MAX_EXTRACTED_CHARS:
                    break
        finally:
            workbook.close()
    except Exception as error:  # as for PDFs: a broken workbook fails in openpyxl's own ways
        raise AttachmentError(
            original_name, "this Excel file is damaged and cannot be read. Save it again as .xlsx."
        ) from error
    return "\n\n".join(blocks)


def _docx_text(data: bytes, original_name: str) -> str:
    _check_office_archive(data, original_name)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        document_xml = archive.read("word/document.xml")
    try:
        root = ElementTree.fromstring(document_xml)
    except ElementTree.ParseError as error:
        raise AttachmentError(
            original_name, "this Word file is damaged and cannot be read. Save it again as .docx."
        ) from error
    lines: list[str] = []
    _collect_docx_blocks(root, lines)
    return "\n".join(lines)


def _local_name(tag: str) -> str:
    # Match by local name: Word writes the transitional namespace, "Strict" files another one.
    return tag.rpartition("}")[2]


def _collect_docx_blocks(element: ElementTree.Element, lines: list[str]) -> None:
    """Paragraphs as lines and table rows as tab-separated cells, in document order."""
    for child in element:
        name = _local_name(child.tag)
        if name == "p":
            lines.append(_docx_paragraph(child))
        elif name == "tbl":
            for row in child:
                if _local_name(row.tag) == "tr":
                    cells = [
                        " ".join(
                            _docx_paragraph(p) for p in cell.iter() if _local_name(p.tag) == "p"
                        )
                        for cell in row
                        if _local_name(cell.tag) == "tc"
                    ]
                    lines.append("\t".join(cells))
        else:  # the body, content controls and other wrappers hold paragraphs too
            _collect_docx_blocks(child, lines)


def _docx_paragraph(paragraph: ElementTree.Element) -> str:
    parts: list[str] = []
    for node in paragraph.iter():
        name = _local_name(node.tag)
        if name == "t":  # deleted text (delText) and field codes (instrText) are left out
            parts.append(node.text or "")
        elif name == "tab":
            parts.append("\t")
        elif name in ("br", "cr"):
            parts.append("\n")
    return "".join(parts)


def _check_office_archive(data: bytes, original_name: str) -> None:
    """Refuse a Word or Excel archive that is damaged or unpacks to more than the limits allow.

    Declared sizes can lie, so the bytes are also counted while every part is decompressed.
    """
    limit = max_unpacked_bytes()
    too_big = AttachmentError(
        original_name,
        f"this file unpacks to more than {_human_size(limit)}, which is more than a real "
        "document needs. Remove large embedded files and attach it again.",
    )
    damaged = AttachmentError(original_name, "this file is damaged and cannot be opened.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if len(members) > MAX_ARCHIVE_MEMBERS:
                raise AttachmentError(
                    original_name,
                    f"this file has more than {MAX_ARCHIVE_MEMBERS} parts, far more than a real "
                    "document has.",
                )
            if sum(member.file_size for member in members) > limit:
                raise too_big
            if any(member.flag_bits & 0x1 for member in members):
                raise AttachmentError(
                    original_name, "this file is encrypted. Remove the password and attach again."
                )
            unpacked = 0
            for member in members:
                is_xml = member.filename.endswith((".xml", ".rels"))
                tail = b""
                with archive.open(member) as part:
                    while chunk := part.read(READ_CHUNK_BYTES):
                        unpacked += len(chunk)
                        if unpacked > limit:
                            raise too_big
                        # Office never writes a DOCTYPE; one is there only to declare entities.
                        if is_xml and b"<!DOCTYPE" in tail + chunk:
                            raise damaged
                        tail = chunk[-16:]
    except AttachmentError:
        raise  # a ValueError too, so it must pass before the clause below
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as error:
        raise damaged from error

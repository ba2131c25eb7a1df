"""Input material that domain experts attach to a task version: checked, stored, text extracted.

Uploads come from people outside the team, so every file is judged by its content (never by
its name or the browser's content type), read under a size cap, unpacked under a size cap, and
refused with a message that names the file and says what is wrong.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import re
import uuid
import zipfile
import zlib
from collections.abc import Callable
from enum import StrEnum

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError as XMLParseError
from defusedxml.ElementTree import XMLParser as SafeXMLParser
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from audit import trail
from evalbuilder.uploads import display_name, human_size, read_capped
from occupations.models import Attachment, LockedVersionError, TaskVersion

MAX_ARCHIVE_MEMBERS = 1000  # a Word or Excel file has a few dozen parts; thousands is a bomb
MAX_ARCHIVE_DEPTH = 2  # a Word file holding a chart's workbook; deeper nesting is no document
MAX_EXTRACTED_CHARS = 200_000
MAX_PDF_OBJECTS = 200_000  # far more than a long report has; walking more is a denial of service
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
    original_name = display_name(uploaded_file.name or "")
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
            attachment.file.save(_storage_name(kind), ContentFile(data), save=False)
            stored_name = attachment.file.name
            attachment.save()
            _record(trail.Action.CREATE, attachment, version)
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
        _record(trail.Action.DELETE, attachment, version)  # before the row, and its id, are gone
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
                    _storage_name(AttachmentKind(original.kind)), ContentFile(data), save=False
                )
                stored_names.append(duplicate.file.name)
                duplicate.save()
                _record(trail.Action.CREATE, duplicate, target, copied_from=source_version)
                copies.append(duplicate)
    except BaseException:
        for stored_name in stored_names:
            Attachment.file.field.storage.delete(stored_name)
        raise
    return copies


def _record(
    action: str,
    attachment: Attachment,
    version: TaskVersion,
    *,
    copied_from: TaskVersion | None = None,
) -> None:
    """One audit event for an attachment added, removed or copied, in the caller's transaction.

    The trail names the attachment by its id (audit.registry.label_of) and never by its file
    name, which can say what a held-out task is about.
    """
    details: dict = {"version": version.number, "kind": attachment.kind}
    if copied_from is not None:
        details["copied_from_version"] = copied_from.number
    trail.record(action, target=attachment, details=details)


def _refuse_if_locked(version: TaskVersion, original_name: str) -> None:
    if version.is_locked:
        raise LockedVersionError(
            f"{version} was submitted and cannot change, so {original_name} cannot be attached "
            "to it or removed from it; start a new version instead."
        )


def _read_capped(uploaded_file: UploadedFile, original_name: str) -> tuple[bytes, str]:
    """The upload's bytes and SHA-256, refused as soon as more than the cap has been read."""
    limit = max_attachment_bytes()
    data = read_capped(uploaded_file, limit, READ_CHUNK_BYTES)
    if data is None:
        raise AttachmentError(
            original_name, f"the file is larger than the limit of {human_size(limit)}."
        )
    if not data:
        raise AttachmentError(original_name, "the file is empty.")
    return data, hashlib.sha256(data).hexdigest()


def _storage_name(kind: AttachmentKind) -> str:
    """A generated name on disk: nothing of the uploader's name reaches the file system, and
    the extension matches the content, so the file is never served as a page."""
    return f"{uuid.uuid4().hex}{kind.extension}"


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
# Browsers render text that starts like this as a page (WHATWG MIME sniffing), scripts included;
# SVG, MathML and XML documents run scripts too.
MARKUP = re.compile(
    r"\A\s*(<!doctype\s|<\?xml|<!--|<!\[cdata\["
    r"|<(html|head|body|script|iframe|frame|frameset|object|embed|applet|svg|math|xml"
    r"|xsl:stylesheet|style|link|meta|base|form|img|video|audio|template|noscript"
    r"|h1|div|font|table|a|title|b|br|p)[\s>/])",
    re.IGNORECASE,
)
# A page or script hidden in an image, for a browser or server that takes it for a page.
MARKUP_IN_IMAGE = re.compile(rb"<(script|html|body|svg|iframe|object|embed|\?php)[\s>/]", re.I)
IMAGE_OR_PDF_MAGICS = (
    (PDF_MAGIC, AttachmentKind.PDF),
    (PNG_MAGIC, AttachmentKind.PNG),
    (JPEG_MAGIC, AttachmentKind.JPEG),
)


BINARY_TYPES = (
    (PDF_MAGIC, "a PDF document"),
    (ZIP_MAGIC, "a ZIP archive (Word and Excel files are ZIP archives too)"),
    (OLE_MAGIC, "an old-format Office file"),
    (PNG_MAGIC, "an image"),
    (JPEG_MAGIC, "an image"),
    (b"\x1f\x8b", "a compressed (gzip) file"),
)


def describe_binary(data: bytes) -> str | None:
    """What these bytes are when they are not text ("a PDF document"), else None.

    Text in a legacy encoding is text: its reader says which byte is not UTF-8.
    """
    for magic, description in BINARY_TYPES:
        if data.startswith(magic):
            return description
    if data.startswith(UTF16_BOMS):
        return "text saved as UTF-16"
    if data.startswith(EXECUTABLE_MAGICS) and _as_text(data) is None:
        return "a program"
    if b"\x00" in data:
        return "binary data"
    return None


def sniff_kind(data: bytes, original_name: str) -> AttachmentKind:
    """The attachment kind of these bytes; the name only tells CSV from plain text."""
    for magic, kind in IMAGE_OR_PDF_MAGICS:
        if data.startswith(magic):
            _refuse_polyglot(data, kind, original_name)
            return kind
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


def _refuse_polyglot(data: bytes, kind: AttachmentKind, original_name: str) -> None:
    """Refuse a file that is a valid file of a second type as well (a "polyglot")."""
    also_zip = False
    # An end record so broken that seeking to it fails is one no ZIP reader opens either.
    with contextlib.suppress(OSError, ValueError):
        also_zip = zipfile.is_zipfile(io.BytesIO(data))
    if also_zip:
        raise AttachmentError(
            original_name,
            f"this {kind.value.upper()} file has a ZIP archive hidden in it, so it is two "
            "files at once. Save it again (print or export it) and attach the new file.",
        )
    if kind in (AttachmentKind.PNG, AttachmentKind.JPEG) and MARKUP_IN_IMAGE.search(data):
        raise AttachmentError(
            original_name,
            "this image has a web page or script hidden in it. Save the picture again "
            "(for example as a screenshot) and attach the new file.",
        )


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
        if _pdf_has_active_content(reader, original_name):
            raise AttachmentError(
                original_name,
                "this PDF contains scripts or actions that start programs, which are not "
                "accepted. Print it to a new PDF and attach that.",
            )
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


ACTIVE_PDF_KEYS = frozenset({"/JS", "/JavaScript", "/Launch", "/XFA"})
ACTIVE_PDF_ACTIONS = frozenset({"/JavaScript", "/Launch", "/ImportData", "/RichMediaExecute"})


def _pdf_has_active_content(reader, original_name: str) -> bool:
    """Whether anything a reader can reach from the trailer runs a script or a program.

    Every object is walked, so an action hidden in an annotation, a form field, a page's
    additional actions or a compressed object stream is found; names arrive decoded, so
    #-escapes ("/J#61vaScript") do not hide one.
    """
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

    pending: list = [reader.trailer]
    seen: set[tuple[int, int]] = set()
    while pending:
        node = pending.pop()
        if isinstance(node, IndirectObject):
            if (node.idnum, node.generation) in seen:
                continue
            seen.add((node.idnum, node.generation))
            if len(seen) > MAX_PDF_OBJECTS:
                raise AttachmentError(
                    original_name, "this PDF has far more parts than a document needs."
                )
            node = node.get_object()
        if isinstance(node, DictionaryObject):  # streams too: their dictionary, not their data
            if ACTIVE_PDF_KEYS.intersection(node.keys()) or node.get("/S") in ACTIVE_PDF_ACTIONS:
                return True
            pending.extend(node.values())
        elif isinstance(node, ArrayObject):
            pending.extend(node)
    return False


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
    # One character more than is kept, so that the text is marked as truncated.
    collector = _DocxText(MAX_EXTRACTED_CHARS + 1)
    parser = _safe_xml_parser(collector)
    try:
        with (
            zipfile.ZipFile(io.BytesIO(data)) as archive,
            archive.open("word/document.xml") as document,
        ):
            while not collector.full and (chunk := document.read(READ_CHUNK_BYTES)):
                parser.feed(chunk)
            if not collector.full:  # a document read to its end must be whole
                parser.close()
    except (XMLParseError, DefusedXmlException) as error:
        raise AttachmentError(
            original_name, "this Word file is damaged and cannot be read. Save it again as .docx."
        ) from error
    return collector.text()


def _safe_xml_parser(target: object) -> SafeXMLParser:
    """An XML parser that refuses any DTD, entity declaration or external reference.

    Word and Excel never write one; a DTD is there only to declare entities, which expand
    a few bytes into gigabytes ("billion laughs") whatever the encoding of the part.
    """
    return SafeXMLParser(target=target, forbid_dtd=True, forbid_entities=True)


class _DiscardingTarget:
    """A parser target that keeps nothing: the part is only checked, never held in memory."""


def _local_name(tag: str) -> str:
    # Match by local name: Word writes the transitional namespace, "Strict" files another one.
    return tag.rpartition("}")[2]


class _DocxText:
    """A parser target that collects a Word document's text while the XML streams past:
    paragraphs as lines and table rows as tab-separated cells, in document order.

    Nothing but the text is kept, and `full` says when more than `budget` characters have
    been collected, so a huge document costs no more memory than a long one.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.length = 0
        self.lines: list[str] = []
        self.tables = 0  # how many tables the parser is inside
        self.paragraphs = 0  # how many paragraphs (a text box holds paragraphs inside one)
        self.texts = 0  # inside a run's text, the only text that is shown
        self.parts: list[str] = []  # of the outermost paragraph being read
        self.row: list[str] | None = None  # cells of the outermost table's row being read
        self.cell: list[str] | None = None  # paragraphs of the cell being read

    @property
    def full(self) -> bool:
        return self.length > self.budget

    def start(self, tag: str, attributes: dict[str, str]) -> None:
        name = _local_name(tag)
        if name == "tbl":
            self.tables += 1
        elif name == "tr" and self.tables == 1 and not self.paragraphs:
            self.row = []
        elif name == "tc" and self.row is not None and self.tables == 1 and not self.paragraphs:
            self.cell = []
        elif name == "p":
            self.paragraphs += 1
            if self.paragraphs == 1:
                self.parts = []
        elif self.paragraphs:
            if name == "t":  # deleted text (delText) and field codes (instrText) are left out
                self.texts += 1
            elif name == "tab":
                self._add("\t")
            elif name in ("br", "cr"):
                self._add("\n")

    def end(self, tag: str) -> None:
        name = _local_name(tag)
        if name == "tbl":
            self.tables -= 1
        elif name == "tr" and self.row is not None and self.tables == 1 and not self.paragraphs:
            self._line("\t".join(self.row))
            self.row = None
        elif name == "tc" and self.cell is not None and self.tables == 1 and not self.paragraphs:
            if self.row is not None:
                self.row.append(" ".join(self.cell))
                self.length += 1  # its tab: empty cells count too, so a row cannot grow forever
            self.cell = None
        elif name == "p" and self.paragraphs:
            self.paragraphs -= 1
            if not self.paragraphs:
                paragraph = "".join(self.parts)
                self.parts = []
                if not self.tables:
                    self._line(paragraph)
                elif self.cell is not None:  # a nested table's text joins its outer cell
                    self.cell.append(paragraph)
                    self.length += 1
        elif name == "t" and self.texts:
            self.texts -= 1

    def data(self, text: str) -> None:
        if self.texts:
            self._add(text)

    def text(self) -> str:
        """The text collected, with the paragraph or row that was being read when it stopped."""
        lines = list(self.lines)
        if self.parts:
            lines.append("".join(self.parts))
        if self.row:
            lines.append("\t".join(self.row))
        return "\n".join(lines)

    def _add(self, text: str) -> None:
        if not self.full:
            self.parts.append(text)
            self.length += len(text)

    def _line(self, line: str) -> None:
        # Its text was counted, and capped, as it arrived; this is its line break.
        self.lines.append(line)
        self.length += 1


def _check_office_archive(data: bytes, original_name: str) -> None:
    """Refuse a Word or Excel archive that is damaged or unpacks to more than the limits allow.

    Declared sizes can lie, so the bytes are also counted while every part is decompressed.
    An archive inside it (a chart's workbook in a Word file) is unpacked and counted against
    the same limit; one nested deeper than that is refused.
    """
    limit = max_unpacked_bytes()
    too_big = AttachmentError(
        original_name,
        f"this file unpacks to more than {human_size(limit)}, which is more than a real "
        "document needs. Remove large embedded files and attach it again.",
    )
    damaged = AttachmentError(original_name, "this file is damaged and cannot be opened.")
    try:
        _count_unpacked(data, original_name, limit, 1, too_big, damaged)
    except AttachmentError:
        raise  # a ValueError too, so it must pass before the clause below
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as error:
        raise damaged from error


def _count_unpacked(
    data: bytes,
    original_name: str,
    room: int,
    depth: int,
    too_big: AttachmentError,
    damaged: AttachmentError,
) -> int:
    """The bytes this archive unpacks to, archives inside it included; raises `too_big` as
    soon as they pass `room`."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
        if len(members) > MAX_ARCHIVE_MEMBERS:
            raise AttachmentError(
                original_name,
                f"this file has more than {MAX_ARCHIVE_MEMBERS} parts, far more than a real "
                "document has.",
            )
        if sum(member.file_size for member in members) > room:
            raise too_big
        if any(member.flag_bits & 0x1 for member in members):
            raise AttachmentError(
                original_name, "this file is encrypted. Remove the password and attach again."
            )
        unpacked = 0
        for member in members:
            first = True
            inner: bytearray | None = None
            xml: _XMLPartCheck | None = None
            with archive.open(member) as part:
                while chunk := part.read(READ_CHUNK_BYTES):
                    if first:
                        if chunk.startswith(ZIP_MAGIC):
                            inner = bytearray()  # the first bytes of the part: an archive
                        elif _starts_like_xml(chunk) or member.filename.endswith(XML_SUFFIXES):
                            xml = _XMLPartCheck(
                                original_name, strict=member.filename.endswith(XML_SUFFIXES)
                            )
                        first = False
                    unpacked += len(chunk)
                    if unpacked > room:
                        raise too_big
                    if inner is not None:
                        inner += chunk
                    if xml is not None:
                        xml.feed(chunk, damaged)
            if xml is not None:
                xml.close(damaged)
            if inner is not None:
                if depth >= MAX_ARCHIVE_DEPTH:
                    raise AttachmentError(
                        original_name,
                        "this file holds an archive inside an archive inside it, which no "
                        "real document does.",
                    )
                room_left = room - unpacked
                unpacked += _count_unpacked(
                    bytes(inner), original_name, room_left, depth + 1, too_big, damaged
                )
    return unpacked


XML_SUFFIXES = (".xml", ".rels")
"""Parts Word and Excel always write as well-formed XML."""
# What any other XML part starts with: markup, or a byte-order mark (UTF-8, UTF-16 or
# UTF-32), or the first character "<" in UTF-16 or UTF-32 without one.
XML_OPENINGS = (b"<", b"\xef\xbb\xbf", *UTF16_BOMS, b"\x00\x00\xfe\xff", b"\x00<", b"\x00\x00\x00<")


def _starts_like_xml(first_chunk: bytes) -> bool:
    # A reader finds parts through the package's relationships, whatever they are called.
    return first_chunk.lstrip(b" \t\r\n").startswith(XML_OPENINGS)


class _XMLPartCheck:
    """Parses one XML part of an Office archive as it is unpacked, keeping nothing of it.

    A DTD or entity declaration is refused in any encoding. A part named .xml or .rels must
    also be well-formed; another part that only looks like XML (legacy VML drawings are
    often not well-formed) is no longer parsed after an error, since a DTD can only come
    before the first element.
    """

    def __init__(self, original_name: str, *, strict: bool) -> None:
        self.original_name = original_name
        self.strict = strict
        self.parser: SafeXMLParser | None = _safe_xml_parser(_DiscardingTarget())

    def feed(self, chunk: bytes, damaged: AttachmentError) -> None:
        self._parse(lambda parser: parser.feed(chunk), damaged)

    def close(self, damaged: AttachmentError) -> None:
        self._parse(lambda parser: parser.close(), damaged)

    def _parse(self, step: Callable[[SafeXMLParser], object], damaged: AttachmentError) -> None:
        if self.parser is None:
            return
        try:
            step(self.parser)
        except DefusedXmlException as error:
            raise AttachmentError(
                self.original_name,
                "this file is damaged: a part of it declares XML entities or a DTD, which Word "
                "and Excel never write. Save it again as .docx or .xlsx and attach the new file.",
            ) from error
        except XMLParseError as error:
            if self.strict:
                raise damaged from error
            self.parser = None

"""What an expert sees when attaching input material to a task version."""

import io
import re
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.db import transaction
from openpyxl import Workbook

from audit.models import AuditEvent
from occupations import attachments
from occupations.attachments import AttachmentError, add_attachment, copy_attachments
from occupations.models import Attachment, LockedVersionError, Task, TaskVersion

pytestmark = pytest.mark.django_db

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


# --- files built here, so that no binary lives in the repository --------------------------


def make_pdf(text: str, catalog: bytes = b"", extra_objects: tuple[bytes, ...] = ()) -> bytes:
    """A one-page PDF showing one line of text in Helvetica, with a correct cross-reference;
    `catalog` adds entries to its catalog, `extra_objects` become objects 6, 7, ..."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R " + catalog + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        *extra_objects,
    ]
    pdf = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        pdf += b"%010d 00000 n \n" % offset
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(pdf)


def make_xlsx() -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Budget"
    sheet.append(["Item", "Cost"])
    sheet.append(["Scaffolding", 1250])
    workbook.create_sheet("Notes").append(["Ask the site manager"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def make_docx(extra_members: dict[str, bytes] | None = None) -> bytes:
    document = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<w:document xmlns:w="{W}"><w:body>'
        "<w:p><w:r><w:t>Inspect the north wall</w:t></w:r></w:p>"
        "<w:tbl>"
        "<w:tr><w:tc><w:p><w:r><w:t>Room</w:t></w:r></w:p></w:tc>"
        "<w:tc><w:p><w:r><w:t>Area</w:t></w:r></w:p></w:tc></w:tr>"
        "<w:tr><w:tc><w:p><w:r><w:t>Kitchen</w:t></w:r></w:p></w:tc>"
        "<w:tc><w:p><w:r><w:t>12 m2</w:t></w:r></w:p></w:tc></w:tr>"
        "</w:tbl>"
        "</w:body></w:document>"
    )
    content_types = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="xml" ContentType="application/xml"/>'
        "</Types>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("word/document.xml", document)
        for name, data in (extra_members or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def make_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # filter byte, one red pixel
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def stored_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def expert(db):
    return get_user_model().objects.create_user("expert", password="not-used")


@pytest.fixture
def draft(seeded, media_root) -> TaskVersion:
    return TaskVersion.objects.create(
        task=Task.objects.first(),
        number=99,
        instructions="x",
        deliverable="y",
        estimated_minutes=10,
        reference_solution="z",
    )


def assert_nothing_written(media_root: Path) -> None:
    assert not Attachment.objects.exists()
    assert stored_files(media_root) == []


# --- accepted files -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "kind", "expected_text"),
    [
        ("brief.pdf", make_pdf("Quarterly revenue was 4200 euros"), "pdf", ["4200 euros"]),
        (
            "budget.xlsx",
            make_xlsx(),
            "xlsx",
            ["Budget", "Item\tCost", "Scaffolding\t1250", "Notes", "Ask the site manager"],
        ),
        ("survey.docx", make_docx(), "docx", ["Inspect the north wall\n", "Kitchen\t12 m2"]),
        ("photo.png", make_png(), "png", []),
        ("scan.jpg", JPEG, "jpeg", []),
        ("rates.csv", "\ufeffrole,rate\nplumber,45\nroofer,50\n".encode(), "csv", ["plumber,45"]),
        ("notes.txt", b"Bring the survey from 2019.\n", "txt", ["survey from 2019"]),
    ],
)
def test_an_accepted_file_is_stored_with_its_sniffed_kind_and_text(
    draft, expert, media_root, name, data, kind, expected_text
):
    attachment = add_attachment(draft, upload(name, data), expert)

    attachment.refresh_from_db()
    assert attachment.kind == kind
    assert attachment.original_name == name
    assert attachment.size == len(data)
    assert attachment.uploaded_by == expert
    assert attachment.task_version == draft
    for fragment in expected_text:
        assert fragment in attachment.extracted_text
    if not expected_text:
        assert attachment.extracted_text == ""
    with attachment.file.open("rb") as stored:
        assert stored.read() == data
    assert Path(attachment.file.path).is_relative_to(media_root)


def test_the_type_comes_from_the_content_not_the_name(draft, expert):
    attachment = add_attachment(draft, upload("minutes.docx", make_pdf("Site minutes")), expert)

    assert attachment.kind == "pdf"
    assert attachment.original_name == "minutes.docx"
    assert attachment.file.name.endswith(".pdf")  # never served under a false extension


def test_a_csv_with_ragged_rows_is_kept_as_plain_text(draft, expert):
    attachment = add_attachment(draft, upload("list.csv", b"a,b,c\nd\ne,f\n"), expert)

    assert attachment.kind == "txt"


def test_a_strange_file_name_is_made_safe_for_display_and_never_reaches_the_disk(draft, expert):
    name = "../../etc/" + "Q3 report (final)!" * 10 + ".txt"
    attachment = add_attachment(draft, upload(name, b"Figures attached."), expert)

    stored = Path(attachment.file.name)
    assert stored.parent.as_posix().startswith("attachments/")
    assert re.fullmatch(r"[0-9a-f]{32}\.txt", stored.name)  # generated, with the sniffed type
    assert attachment.original_name == "Q3 report (final)!" * 10 + ".txt"


def test_two_files_with_the_same_name_are_stored_apart(draft, expert):
    first = add_attachment(draft, upload("notes.txt", b"First."), expert)
    second = add_attachment(draft, upload("notes.txt", b"Second."), expert)

    assert first.file.name != second.file.name
    assert [first.original_name, second.original_name] == ["notes.txt", "notes.txt"]


def test_long_extracted_text_is_truncated_with_a_note(draft, expert):
    text = "word " * 50_000
    attachment = add_attachment(draft, upload("long.txt", text.encode()), expert)

    assert attachment.extracted_text.startswith(text[: attachments.MAX_EXTRACTED_CHARS])
    assert len(attachment.extracted_text) < attachments.MAX_EXTRACTED_CHARS + 200
    assert "truncated" in attachment.extracted_text


def test_the_size_limit_follows_the_setting(settings):
    settings.EVALBUILDER_MAX_ATTACHMENT_BYTES = 1234

    assert attachments.max_attachment_bytes() == 1234


# --- refused files ------------------------------------------------------------------------


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def assert_refused(draft, expert, media_root, name: str, data: bytes, complaint: str) -> None:
    """The file is refused with a message naming it and saying why, and nothing is written."""
    with pytest.raises(AttachmentError) as refusal:
        add_attachment(draft, upload(name, data), expert)

    assert str(refusal.value).startswith(f"{name}: ")
    assert complaint in str(refusal.value)
    assert_nothing_written(media_root)


@pytest.mark.parametrize(
    ("name", "data", "complaint"),
    [
        ("report.pdf", b"<!DOCTYPE html><html><body>Hi</body></html>", "web page"),
        ("report.pdf", b"  <script>alert(1)</script>", "web page"),
        ("drawing.txt", b'<?xml version="1.0"?><svg></svg>', "web page or XML"),
        ("drawing.svg", b'<svg onload="alert(1)" xmlns="http://www.w3.org/2000/svg"/>', "web page"),
        (
            "drawing.txt",
            b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x"><svg><script>x</script></svg>',
            "web page",
        ),
        ("page.csv", "\ufeff\n  <iframe src=x>".encode(), "web page"),
        ("formula.txt", b"<math><maction actiontype=statusline>x</maction></math>", "web page"),
        ("macho.pdf", b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + bytes(24), "a program"),
        ("setup.txt", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff", "a program"),
        ("tool.txt", b"\x7fELF\x02\x01\x01\x00", "a program"),
        ("photos.docx", zip_of({"a.jpg": JPEG}), "ZIP archive"),
        (
            "budget.xlsx",
            zip_of({"[Content_Types].xml": b"", "xl/workbook.xml": b"", "xl/vbaProject.bin": b""}),
            "macros",
        ),
        ("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), "old-format Office"),
        ("notes.txt", "Hello".encode("utf-16"), "UTF-16"),
        ("latin.txt", "Café".encode("latin-1"), "not saved as UTF-8"),
        ("image.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "not accepted"),
        ("empty.txt", b"", "empty"),
        ("broken.pdf", b"%PDF-1.4\nthis is not really a pdf\n", "PDF is damaged"),
        ("broken.docx", make_docx()[:-40], "damaged"),
        (
            "hostile.docx",
            make_docx({"word/styles.xml": b'<!DOCTYPE x [<!ENTITY a "a">]><x>&a;</x>'}),
            "damaged",
        ),
    ],
)
def test_a_file_that_is_not_accepted_is_refused_by_name_and_nothing_is_written(
    draft, expert, media_root, name, data, complaint
):
    assert_refused(draft, expert, media_root, name, data, complaint)


PAGE_ACTION = b"/OpenAction [3 0 R /Fit]"  # opens on page 1, fitted: harmless and common


@pytest.mark.parametrize(
    ("name", "data", "complaint"),
    [
        (
            "photo.png",
            make_png() + zip_of({"index.html": b"<script>x</script>"}),
            "PNG file has a ZIP archive hidden in it",
        ),
        ("brief.pdf", make_pdf("Hi") + zip_of({"a.txt": b"x"}), "PDF file has a ZIP archive"),
        ("scan.jpg", JPEG[:-2] + b"<script>alert(1)</script>" + JPEG[-2:], "script hidden"),
        ("photo.png", make_png() + b"<html><body onload=x>", "web page or script hidden"),
        (
            "brief.pdf",
            make_pdf("Hi", b"/OpenAction 6 0 R", (b"<< /S /JavaScript /JS (app.alert(1)) >>",)),
            "PDF contains scripts",
        ),
        (
            "brief.pdf",
            make_pdf(
                "Hi",
                b"/Names << /JavaScript 6 0 R >>",
                (b"<< /Names [(run) 7 0 R] >>", b"<< /S /JavaScript /JS (x) >>"),
            ),
            "PDF contains scripts",
        ),
        # Names written with #-escapes are the same names to a PDF reader.
        ("brief.pdf", make_pdf("Hi", b"/OpenAction << /S /J#61vaScript /J#53 (x) >>"), "scripts"),
        (
            "brief.pdf",
            make_pdf("Hi", b"/OpenAction << /S /Launch /F (calc.exe) >>"),
            "actions that start programs",
        ),
    ],
)
def test_a_file_that_is_two_things_at_once_or_runs_code_is_refused(
    draft, expert, media_root, name, data, complaint
):
    assert_refused(draft, expert, media_root, name, data, complaint)


def test_a_pdf_with_an_ordinary_opening_view_is_accepted(draft, expert):
    attachment = add_attachment(draft, upload("brief.pdf", make_pdf("Hi", PAGE_ACTION)), expert)

    assert attachment.kind == "pdf"


def test_a_file_one_byte_over_the_limit_is_refused(settings, draft, expert, media_root):
    settings.EVALBUILDER_MAX_ATTACHMENT_BYTES = 1000
    add_attachment(draft, upload("fits.txt", b"a" * 1000), expert)
    Attachment.objects.all().delete()
    for path in stored_files(media_root):
        path.unlink()

    with pytest.raises(AttachmentError, match=r"^big\.txt: .*larger than the limit"):
        add_attachment(draft, upload("big.txt", b"a" * 1001), expert)

    assert_nothing_written(media_root)


class CountingStream(io.BytesIO):
    """A stream that counts how many of its bytes were read."""

    bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def test_an_oversize_upload_is_refused_before_the_rest_of_it_is_read(
    settings, draft, expert, media_root
):
    settings.EVALBUILDER_MAX_ATTACHMENT_BYTES = 100 * 1024
    stream = CountingStream(b"a" * (5 * 1024 * 1024))
    # An upload spooled to disk, read in chunks; its declared size understates it.
    huge = UploadedFile(stream, name="huge.txt", content_type="text/plain", size=10)

    with pytest.raises(AttachmentError, match="larger than the limit"):
        add_attachment(draft, huge, expert)

    assert stream.bytes_read <= 100 * 1024 + attachments.READ_CHUNK_BYTES
    assert_nothing_written(media_root)


def test_a_docx_that_unpacks_to_too_much_is_refused(settings, draft, expert, media_root):
    settings.EVALBUILDER_MAX_ATTACHMENT_UNPACKED_BYTES = 1024 * 1024
    bomb = make_docx({"word/media/zeros.bin": bytes(4 * 1024 * 1024)})
    assert len(bomb) < 100 * 1024  # small on the way in

    with pytest.raises(AttachmentError, match=r"^bomb\.docx: .*unpacks to more than 1 MB"):
        add_attachment(draft, upload("bomb.docx", bomb), expert)

    assert_nothing_written(media_root)


def understate_unpacked_size(archive: bytes, member: str, claimed: int) -> bytes:
    """The archive with one member's uncompressed size rewritten, in both of its headers."""
    data = bytearray(archive)
    end = data.rfind(b"PK\x05\x06")
    (entries,) = struct.unpack_from("<H", data, end + 10)
    (position,) = struct.unpack_from("<I", data, end + 16)
    for _ in range(entries):
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", data, position + 28)
        name = data[position + 46 : position + 46 + name_length].decode()
        if name == member:
            struct.pack_into("<I", data, position + 24, claimed)
            (local_header,) = struct.unpack_from("<I", data, position + 42)
            struct.pack_into("<I", data, local_header + 22, claimed)
        position += 46 + name_length + extra_length + comment_length
    return bytes(data)


def test_a_docx_that_lies_about_its_unpacked_size_is_refused(settings, draft, expert, media_root):
    settings.EVALBUILDER_MAX_ATTACHMENT_UNPACKED_BYTES = 1024 * 1024
    honest = make_docx({"word/media/zeros.bin": bytes(4 * 1024 * 1024)})
    liar = understate_unpacked_size(honest, "word/media/zeros.bin", claimed=100)
    assert sum(info.file_size for info in zipfile.ZipFile(io.BytesIO(liar)).infolist()) < 2000

    with pytest.raises(AttachmentError, match=r"^liar\.docx: "):
        add_attachment(draft, upload("liar.docx", liar), expert)

    assert_nothing_written(media_root)


def test_an_archive_with_thousands_of_parts_is_refused(draft, expert, media_root):
    members = {f"word/part{n}.xml": b"<x/>" for n in range(attachments.MAX_ARCHIVE_MEMBERS)}
    crowded = make_docx(members)

    with pytest.raises(AttachmentError, match=r"^crowded\.docx: .*parts"):
        add_attachment(draft, upload("crowded.docx", crowded), expert)

    assert_nothing_written(media_root)


def test_a_lying_size_is_caught_by_the_bytes_and_refused_as_damaged(settings, draft, expert):
    settings.EVALBUILDER_MAX_ATTACHMENT_UNPACKED_BYTES = 1024 * 1024
    liar = understate_unpacked_size(
        make_xlsx_with({"xl/media/zeros.bin": bytes(4 * 1024 * 1024)}),
        "xl/media/zeros.bin",
        claimed=100,
    )

    with pytest.raises(AttachmentError, match=r"^liar\.xlsx: this file is damaged"):
        add_attachment(draft, upload("liar.xlsx", liar), expert)


def make_xlsx_with(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(make_xlsx())) as original,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as copy,
    ):
        for item in original.infolist():
            copy.writestr(item, original.read(item))
        for name, data in members.items():
            copy.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_of_zips_is_refused_without_unpacking_the_inner_ones(draft, expert, media_root):
    inner = zip_of({"zeros.bin": bytes(4 * 1024 * 1024)})
    nested = zip_of({f"layer{n}.zip": inner for n in range(16)})

    with pytest.raises(AttachmentError, match=r"^nested\.xlsx: .*ZIP archive, not a Word"):
        add_attachment(draft, upload("nested.xlsx", nested), expert)

    assert_nothing_written(media_root)


def test_a_word_file_holding_a_chart_workbook_is_accepted(draft, expert):
    report = make_docx({"word/embeddings/Microsoft_Excel_Worksheet.xlsx": make_xlsx()})

    assert add_attachment(draft, upload("report.docx", report), expert).kind == "docx"


def test_an_archive_bomb_inside_a_word_file_counts_against_the_same_limit(
    settings, draft, expert, media_root
):
    settings.EVALBUILDER_MAX_ATTACHMENT_UNPACKED_BYTES = 1024 * 1024
    bomb = zip_of({"zeros.bin": bytes(4 * 1024 * 1024)})
    report = make_docx({"word/embeddings/chart.xlsx": bomb})
    assert len(report) < 50 * 1024  # small on the way in, and small where it is stored

    with pytest.raises(AttachmentError, match=r"^report\.docx: .*unpacks to more than 1 MB"):
        add_attachment(draft, upload("report.docx", report), expert)

    assert_nothing_written(media_root)


def test_archives_nested_three_deep_are_refused(draft, expert, media_root):
    innermost = zip_of({"note.txt": b"hello"})
    middle = zip_of({"inner.zip": innermost})
    report = make_docx({"word/embeddings/object.bin": middle})

    with pytest.raises(AttachmentError, match=r"^deep\.docx: .*archive inside an archive"):
        add_attachment(draft, upload("deep.docx", report), expert)

    assert_nothing_written(media_root)


def billion_laughs(encoding: str) -> bytes:
    """A document.xml whose DTD nests entities, each ten of the one before: a few hundred
    bytes that expand to 30,000 characters here, and to gigabytes with a few more levels."""
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 5)
    )
    document = (
        f'<?xml version="1.0" encoding="{encoding}"?>'
        f"<!DOCTYPE w:document [{entities}]>"
        f'<w:document xmlns:w="{W}"><w:body><w:p><w:r><w:t>&lol4;</w:t></w:r></w:p>'
        "</w:body></w:document>"
    )
    return document.encode(encoding)


@pytest.mark.parametrize("encoding", ["UTF-16", "UTF-16BE", "UTF-8"])
def test_a_word_file_declaring_entities_is_refused_in_any_encoding(
    draft, expert, media_root, encoding
):
    laughs = billion_laughs(encoding)
    assert b"<!DOCTYPE" not in laughs or encoding == "UTF-8"  # no byte search finds it
    bomb = zip_of({"[Content_Types].xml": b"<Types/>", "word/document.xml": laughs})

    with pytest.raises(AttachmentError, match=r"^laughs\.docx: .*declares XML entities"):
        add_attachment(draft, upload("laughs.docx", bomb), expert)

    assert_nothing_written(media_root)


def test_a_word_file_saved_as_utf16_without_a_dtd_is_read():
    document = (
        f'<?xml version="1.0" encoding="UTF-16"?><w:document xmlns:w="{W}"><w:body>'
        "<w:p><w:r><w:t>Inspect the north wall</w:t></w:r></w:p></w:body></w:document>"
    ).encode("utf-16")
    report = zip_of({"[Content_Types].xml": b"<Types/>", "word/document.xml": document})

    assert attachments.extract_text("docx", report) == "Inspect the north wall"


def test_an_entity_in_an_xml_part_under_another_name_is_refused(draft, expert, media_root):
    # A reader finds parts through the package's relationships, whatever they are called.
    hidden = make_docx({"word/styles.dat": billion_laughs("UTF-16")})

    with pytest.raises(AttachmentError, match=r"^styles\.docx: .*declares XML entities"):
        add_attachment(draft, upload("styles.docx", hidden), expert)


def test_a_legacy_drawing_that_is_not_well_formed_xml_is_accepted(draft, expert):
    # Office writes VML drawings with unclosed tags; they declare nothing, so they pass.
    drawing = b'<xml xmlns:v="urn:schemas-microsoft-com:vml"><v:shape><br></v:shape></xml>'
    report = make_docx({"word/drawings/vmlDrawing1.vml": drawing})

    assert add_attachment(draft, upload("report.docx", report), expert).kind == "docx"


def test_the_text_of_a_long_word_file_is_read_only_up_to_the_limit_and_marked(draft, expert):
    paragraph = "<w:p><w:r><w:t>Check every anchor bolt on level two.</w:t></w:r></w:p>"
    count = attachments.MAX_EXTRACTED_CHARS // 30
    document = (
        f'<?xml version="1.0"?><w:document xmlns:w="{W}"><w:body>'
        f"{paragraph * count}</w:body></w:document>"
    ).encode()
    long_report = zip_of({"[Content_Types].xml": b"<Types/>", "word/document.xml": document})

    text = add_attachment(draft, upload("long.docx", long_report), expert).extracted_text

    assert text.startswith("Check every anchor bolt on level two.\nCheck every")
    assert len(text) < attachments.MAX_EXTRACTED_CHARS + 200
    assert text.endswith("characters are kept.]")


def test_extract_text_names_the_file_when_it_cannot_read_it():
    with pytest.raises(AttachmentError, match=r"^scan\.pdf: .*damaged"):
        attachments.extract_text("pdf", b"%PDF-1.4\nnot a pdf", original_name="scan.pdf")


# --- locked versions and storage ----------------------------------------------------------


def test_a_submitted_version_refuses_new_attachments(draft, expert, media_root):
    draft.lock()

    with pytest.raises(LockedVersionError, match=r"notes\.txt"):
        add_attachment(draft, upload("notes.txt", b"Late addition"), expert)

    assert_nothing_written(media_root)


def test_a_version_submitted_by_someone_else_meanwhile_refuses_attachments(
    draft, expert, media_root
):
    TaskVersion.objects.get(pk=draft.pk).lock()  # this copy of the draft still looks open

    with pytest.raises(LockedVersionError):
        add_attachment(draft, upload("notes.txt", b"Late addition"), expert)

    assert_nothing_written(media_root)


def test_no_file_is_left_behind_when_the_row_cannot_be_saved(
    draft, expert, media_root, monkeypatch
):
    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Attachment, "save", fail)

    with pytest.raises(RuntimeError):
        add_attachment(draft, upload("notes.txt", b"Some notes"), expert)

    assert_nothing_written(media_root)


def test_removing_an_attachment_deletes_its_row_and_file(
    draft, expert, media_root, django_capture_on_commit_callbacks
):
    attachment = add_attachment(draft, upload("notes.txt", b"Some notes"), expert)

    with django_capture_on_commit_callbacks(execute=True):
        attachments.remove_attachment(attachment)

    assert_nothing_written(media_root)


def test_an_attachment_of_a_submitted_version_cannot_be_removed(draft, expert, media_root):
    attachment = add_attachment(draft, upload("notes.txt", b"Some notes"), expert)
    draft.lock()

    with pytest.raises(LockedVersionError):
        attachments.remove_attachment(attachment)

    assert Attachment.objects.filter(pk=attachment.pk).exists()
    assert Path(attachment.file.path).exists()


def next_draft(draft: TaskVersion) -> TaskVersion:
    """A later version of the draft's task, to copy attachments into."""
    return TaskVersion.objects.create(
        task=draft.task,
        number=100,
        instructions="x",
        deliverable="y",
        estimated_minutes=10,
        reference_solution="z",
    )


def test_a_new_draft_gets_its_own_copies_of_the_attachments(
    draft, expert, media_root, django_capture_on_commit_callbacks
):
    pdf = add_attachment(draft, upload("brief.pdf", make_pdf("Scope of works")), expert)
    add_attachment(draft, upload("rates.csv", b"role,rate\nplumber,45\n"), expert)
    draft.lock()
    new_draft = next_draft(draft)

    copies = copy_attachments(draft, new_draft)

    assert [c.original_name for c in copies] == ["brief.pdf", "rates.csv"]
    assert set(new_draft.attachments.all()) == set(copies)
    originals = list(draft.attachments.order_by("created_at", "pk"))
    for original, copy in zip(originals, copies, strict=True):
        assert copy.file.name != original.file.name
        assert (copy.kind, copy.sha256, copy.extracted_text, copy.uploaded_by) == (
            original.kind,
            original.sha256,
            original.extracted_text,
            original.uploaded_by,
        )
        assert Path(copy.file.path).read_bytes() == Path(original.file.path).read_bytes()

    with django_capture_on_commit_callbacks(execute=True):
        attachments.remove_attachment(copies[0])

    assert Path(pdf.file.path).read_bytes() == make_pdf("Scope of works")
    assert draft.attachments.count() == 2


def test_copying_onto_a_submitted_version_is_refused(draft, expert, media_root):
    add_attachment(draft, upload("notes.txt", b"Some notes"), expert)
    files_before = stored_files(media_root)
    submitted = TaskVersion.objects.create(
        task=draft.task,
        number=100,
        instructions="x",
        deliverable="y",
        estimated_minutes=10,
        reference_solution="z",
    )
    submitted.lock()

    with pytest.raises(LockedVersionError):
        copy_attachments(draft, submitted)

    assert stored_files(media_root) == files_before
    assert not submitted.attachments.exists()


# --- the audit trail ----------------------------------------------------------------------


def attachment_events() -> list[tuple[str, str, str, dict]]:
    return [
        (event.action, event.target_id, event.target_label, event.details)
        for event in AuditEvent.objects.filter(target_type="occupations.attachment").order_by("pk")
    ]


def test_adding_copying_and_removing_attachments_is_in_the_audit_trail_without_file_names(
    draft, expert, media_root, django_capture_on_commit_callbacks
):
    draft.task.visibility = Task.Visibility.HELD_OUT
    draft.task.save()
    secret = "bridge-collapse-lawsuit.txt"
    added = add_attachment(draft, upload(secret, b"Site notes"), expert)
    draft.lock()
    new_draft = next_draft(draft)
    (copy,) = copy_attachments(draft, new_draft)
    copy_pk = copy.pk
    with django_capture_on_commit_callbacks(execute=True):
        attachments.remove_attachment(copy)

    assert attachment_events() == [
        ("create", str(added.pk), f"attachment #{added.pk}", {"version": 99, "kind": "txt"}),
        (
            "create",
            str(copy_pk),
            f"attachment #{copy_pk}",
            {"version": 100, "kind": "txt", "copied_from_version": 99},
        ),
        ("delete", str(copy_pk), f"attachment #{copy_pk}", {"version": 100, "kind": "txt"}),
    ]
    assert not AuditEvent.objects.filter(target_label__contains="lawsuit").exists()
    assert all("lawsuit" not in event.details_text for event in AuditEvent.objects.all())


def test_a_refused_attachment_leaves_no_event(draft, expert, media_root):
    with pytest.raises(AttachmentError):
        add_attachment(draft, upload("empty.txt", b""), expert)
    with pytest.raises(RuntimeError), transaction.atomic():
        add_attachment(draft, upload("notes.txt", b"Some notes"), expert)
        raise RuntimeError("the caller's transaction fails later")

    assert attachment_events() == []

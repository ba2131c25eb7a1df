"""Uploads and downloads as a user (or an attacker) meets them: size caps enforced while the
request streams in, imports judged by their content, safe names, and the headers of every
file the application serves."""

import io
import re
import zipfile
from collections.abc import Iterator
from urllib.parse import unquote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.core.handlers.wsgi import WSGIRequest
from django.urls import reverse

from evalbuilder import downloads, uploads
from evalbuilder.uploads import display_name
from graders import validation
from occupations.models import Attachment, Task
from reports import exports
from tests.authoring import jsonl_task_line, make_world, write_draft
from tests.conftest import SignedInClient
from tests.test_attachments import make_pdf
from tests.test_validation import World as ValidationWorld

pytestmark = pytest.mark.django_db

BOUNDARY = "----evalbuilder-test-boundary"


# --- requests whose body is made as it is read ---------------------------------------------


class GeneratedBody:
    """A request body produced piece by piece as the server reads it, counting what was read:
    a huge upload that never exists in memory at once."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self.pieces = pieces
        self.pending = b""
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.pending) < size:
            piece = next(self.pieces, None)
            if piece is None:
                break
            self.pending += piece
        size = len(self.pending) if size < 0 else size
        data, self.pending = self.pending[:size], self.pending[size:]
        self.bytes_read += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:  # part of the WSGI input interface
        return self.read(size)


def multipart_body(fields: dict[str, str], file_name: str, file_size: int) -> tuple[int, Iterator]:
    """The length and the pieces of a multipart body with `fields` and then one file of zeros."""
    head = b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    )
    head += (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    def pieces() -> Iterator[bytes]:
        yield head
        block = bytes(1024 * 1024)
        for start in range(0, file_size, len(block)):
            yield block[: min(len(block), file_size - start)]
        yield tail

    return len(head) + file_size + len(tail), pieces()


def upload_request(path: str, body: GeneratedBody, content_length: int) -> WSGIRequest:
    return WSGIRequest(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "wsgi.url_scheme": "http",
            "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
            "CONTENT_LENGTH": str(content_length),
            "wsgi.input": body,
        }
    )


class RecordingHandler(FileUploadHandler):
    """Stands where Django's memory and temporary-file handlers stand, counting what reaches it."""

    received: list[int] = []

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        RecordingHandler.received.append(0)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        RecordingHandler.received[-1] += len(raw_data)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


ATTACHMENT_PATH = "/tasks/some-task/attachments/"


def test_a_request_declaring_more_than_the_cap_is_refused_without_reading_its_file(settings):
    settings.EVALBUILDER_MAX_ATTACHMENT_BYTES = 1024 * 1024
    length, pieces = multipart_body({"csrfmiddlewaretoken": "token"}, "report.pdf", 200 * 2**20)
    body = GeneratedBody(pieces)
    request = upload_request(ATTACHMENT_PATH, body, length)

    refusal = uploads.refused_upload(request, "file")

    assert str(refusal) == (
        "report.pdf is larger than 1 MB, the largest file accepted here. Nothing was uploaded."
    )
    assert "file" not in request.FILES
    assert request.POST["csrfmiddlewaretoken"] == "token"  # the page can still answer
    assert body.bytes_read <= 64 * 1024  # of 200 MB, only what came before the file


def test_a_file_over_the_cap_is_dropped_as_it_streams_in(settings):
    settings.EVALBUILDER_MAX_ATTACHMENT_BYTES = 100 * 1024
    settings.FILE_UPLOAD_HANDLERS = [
        "evalbuilder.uploads.CappedUploadHandler",
        "tests.test_uploads.RecordingHandler",
    ]
    RecordingHandler.received = []
    # Within the room left for the form, so only the count while streaming can catch it.
    file_size = 100 * 1024 + uploads.FORM_OVERHEAD_BYTES // 2
    length, pieces = multipart_body({"note": "kept"}, "scan.png", file_size)
    request = upload_request(ATTACHMENT_PATH, GeneratedBody(pieces), length)

    refusal = uploads.refused_upload(request, "file")

    assert refusal is not None and refusal.file_name == "scan.png"
    assert "file" not in request.FILES
    # Handlers after the cap saw at most one chunk more than it, never the whole file.
    assert RecordingHandler.received[0] <= 100 * 1024
    assert RecordingHandler.received[0] < file_size


def test_each_route_has_its_own_cap_and_others_get_the_larger_general_one(settings, rf):
    settings.EVALBUILDER_MAX_ATTACHMENT_BYTES = 1000
    settings.EVALBUILDER_MAX_IMPORT_BYTES = 5000
    settings.EVALBUILDER_MAX_EVAL_LOG_BYTES = 9000
    settings.EVALBUILDER_MAX_TAXONOMY_BYTES = 8000

    assert uploads.upload_limit(rf.post(ATTACHMENT_PATH)) == 1000
    assert uploads.upload_limit(rf.post(reverse("occupations:import"))) == 5000
    assert uploads.upload_limit(rf.post(reverse("interop:import_eval_log"))) == 9000
    assert uploads.upload_limit(rf.post(reverse("admin:occupations_taxonomy_import"))) == 8000
    assert uploads.upload_limit(rf.post("/admin/")) == 5000
    assert uploads.upload_limit(rf.post("/no/such/page/")) == 5000


@pytest.fixture
def world(seeded, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return make_world()


def test_the_size_limit_stands_before_anything_that_reads_the_body(settings):
    stack = settings.MIDDLEWARE
    limit = stack.index("evalbuilder.uploads.UploadSizeLimitMiddleware")
    # CSRF reads the form in process_view, after every middleware's own call; nothing above
    # the limit reads the body in its call.
    assert limit > stack.index("django.contrib.auth.middleware.AuthenticationMiddleware")
    assert limit < stack.index("axes.middleware.AxesMiddleware")


def test_an_attachment_over_the_cap_gets_a_message_naming_it_and_the_limit(client, world, settings):
    settings.EVALBUILDER_MAX_ATTACHMENT_BYTES = 1000
    author = world.users["author_a"]
    version = write_draft(author, world.occupation_a)
    client.force_login(author)
    url = reverse("occupations:upload_attachment", args=[version.task.slug])

    # Within the room left for the form: caught while streaming, refused on the page.
    page = client.post(url, {"file": SimpleUploadedFile("big.txt", b"a" * 5000)}, follow=True)
    assert "big.txt is larger than 1,000 bytes" in page.content.decode()
    # Declared larger than that: refused before the body is read.
    answer = client.post(url, {"file": SimpleUploadedFile("big.txt", b"a" * 200 * 1024)})
    assert answer.status_code == 413
    assert "larger than 1,000 bytes, the largest file accepted here" in answer.content.decode()

    assert not Attachment.objects.exists()


def test_the_refusal_reaches_the_page_with_csrf_checks_on(world, settings):
    settings.EVALBUILDER_MAX_ATTACHMENT_BYTES = 1000
    author = world.users["author_a"]
    version = write_draft(author, world.occupation_a)
    browser = SignedInClient(enforce_csrf_checks=True)
    browser.force_login(author)
    editor = browser.get(reverse("occupations:edit", args=[version.task.slug]))
    token = editor.context["csrf_token"]
    url = reverse("occupations:upload_attachment", args=[version.task.slug])

    def send(size: int):
        upload = SimpleUploadedFile("big.txt", bytes(size))
        return browser.post(url, {"csrfmiddlewaretoken": token, "file": upload}, follow=True)

    page = send(5000)
    assert page.status_code == 200  # not a CSRF failure: the token came before the file
    assert "big.txt is larger than 1,000 bytes" in page.content.decode()
    assert send(200 * 1024).status_code == 413  # not a CSRF failure either: nothing was read


def body_without_a_file(size: int) -> tuple[int, Iterator[bytes]]:
    """A multipart body of one huge field and no file part, which no upload handler sees."""
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\n'.encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    def pieces() -> Iterator[bytes]:
        yield head
        for _ in range(size // 2**20):
            yield b"a" * 2**20
        yield tail

    return len(head) + size // 2**20 * 2**20 + len(tail), pieces()


def never_called(request):
    raise AssertionError("the request went on to the view")


@pytest.mark.parametrize(
    "body",
    [
        lambda: multipart_body({"csrfmiddlewaretoken": "token"}, "report.pdf", 200 * 2**20),
        lambda: body_without_a_file(200 * 2**20),
    ],
    ids=["with a file", "without a file part"],
)
def test_a_multipart_body_declared_over_the_cap_is_answered_413_before_it_is_read(settings, body):
    settings.EVALBUILDER_MAX_ATTACHMENT_BYTES = 1024 * 1024
    length, pieces = body()
    stream = GeneratedBody(pieces)
    middleware = uploads.UploadSizeLimitMiddleware(never_called)

    answer = middleware(upload_request(ATTACHMENT_PATH, stream, length))

    assert answer.status_code == 413
    assert answer["Content-Type"] == "text/html; charset=utf-8"
    assert "larger than 1 MB" in answer.content.decode()
    assert stream.bytes_read == 0


def test_the_413_follows_the_cap_of_the_route(settings):
    settings.EVALBUILDER_MAX_ATTACHMENT_BYTES = 1024 * 1024
    settings.EVALBUILDER_MAX_IMPORT_BYTES = 4 * 1024 * 1024
    length, pieces = multipart_body({}, "tasks.jsonl", 2 * 1024 * 1024)
    passed: list[str] = []
    middleware = uploads.UploadSizeLimitMiddleware(lambda request: passed.append(request.path))

    attachment = middleware(upload_request(ATTACHMENT_PATH, GeneratedBody(pieces), length))
    middleware(upload_request(reverse("occupations:import"), GeneratedBody(pieces), length))

    assert attachment.status_code == 413
    assert passed == [reverse("occupations:import")]  # 2 MB is within the import's 4 MB


def test_requests_within_the_cap_or_not_multipart_go_on_to_the_view(settings, rf):
    settings.EVALBUILDER_MAX_ATTACHMENT_BYTES = 1024 * 1024
    passed: list[str] = []
    middleware = uploads.UploadSizeLimitMiddleware(lambda request: passed.append(request.method))
    length, pieces = multipart_body({}, "scan.png", 1024 * 1024 + uploads.FORM_OVERHEAD_BYTES // 2)
    form = rf.post(ATTACHMENT_PATH, {"note": "x"}, content_type="application/x-www-form-urlencoded")
    form.META["CONTENT_LENGTH"] = str(200 * 2**20)

    middleware(upload_request(ATTACHMENT_PATH, GeneratedBody(pieces), length))
    middleware(form)  # Django caps form fields itself (DATA_UPLOAD_MAX_MEMORY_SIZE)
    middleware(rf.get(ATTACHMENT_PATH))

    assert passed == ["POST", "POST", "GET"]


def test_an_empty_attachment_form_asks_for_a_file(client, world):
    author = world.users["author_a"]
    version = write_draft(author, world.occupation_a)
    client.force_login(author)
    url = reverse("occupations:upload_attachment", args=[version.task.slug])

    page = client.post(url, {}, follow=True)

    assert "Choose a file to attach." in page.content.decode()


# --- imports ---------------------------------------------------------------------------------


def a_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("tasks.jsonl", jsonl_task_line("zipped") + "\n")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (make_pdf("tasks"), "tasks.jsonl is a PDF document, not JSON Lines text"),
        (a_zip(), "tasks.jsonl is a ZIP archive"),
        (b"\x7fELF\x02\x01\x01\x00" + bytes(64), "tasks.jsonl is a program"),
        (b'{"slug": "x"}\x00\x00\x01', "tasks.jsonl is binary data"),
        ('{"slug": "x"}'.encode("utf-16"), "tasks.jsonl is text saved as UTF-16"),
        ('{"title": "Café"}\n'.encode("latin-1"), "tasks.jsonl is not UTF-8 text (byte 14)"),
        (b"<!DOCTYPE html><html><script>x</script>", "tasks.jsonl is not JSON Lines: line 1"),
        (b'\n[{"slug": "x"}]\n', "tasks.jsonl is not JSON Lines: line 2"),
        (b'{"slug": "x"}\n{"slug": "\x07"}\n', "line 2 holds the control character U+0007"),
        (b"  \n\n", "tasks.jsonl is empty"),
    ],
)
def test_an_import_that_is_not_json_lines_text_is_refused_by_what_it_is(
    client, world, data, complaint
):
    client.force_login(world.users["author_a"])
    count = Task.objects.count()

    page = client.post(
        reverse("occupations:import"),
        {"file": SimpleUploadedFile("tasks.jsonl", data), "dry_run": "on"},
    )

    assert page.status_code == 200
    assert complaint in page.content.decode()
    assert Task.objects.count() == count


def test_an_import_saved_with_a_byte_order_mark_and_windows_line_ends_is_read(client, world):
    client.force_login(world.users["author_a"])
    data = (
        "\ufeff" + jsonl_task_line("with-bom") + "\r\n" + jsonl_task_line("second") + "\r\n"
    ).encode()

    page = client.post(
        reverse("occupations:import"), {"file": SimpleUploadedFile("tasks.jsonl", data)}
    )

    assert page.status_code == 302
    assert Task.objects.filter(slug__in=["with-bom", "second"]).count() == 2


def test_an_import_over_the_cap_is_refused_and_the_dry_run_stays_ticked(client, world, settings):
    settings.EVALBUILDER_MAX_IMPORT_BYTES = 2000
    client.force_login(world.users["author_a"])
    # Over the cap but within the room for the form, so the page answers, not the middleware.
    lines = "".join(jsonl_task_line(f"task-{n}") + "\n" for n in range(60))
    assert 2000 < len(lines) < uploads.FORM_OVERHEAD_BYTES
    count = Task.objects.count()

    page = client.post(
        reverse("occupations:import"), {"file": SimpleUploadedFile("tasks.jsonl", lines.encode())}
    )

    assert "tasks.jsonl is larger than 2,000 bytes" in page.content.decode()
    assert page.context["form"]["dry_run"].value() is True
    assert Task.objects.count() == count


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\ana\\Q3 report.xlsx", "Q3 report.xlsx"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),  # a right-to-left override shows "exe.jpg"
        ("pay\u2066slip\u2069.pdf", "payslip.pdf"),
        ("re\u200bport\u00ad.pdf", "report.pdf"),
        ("report\x00.pdf\r\n", "report.pdf"),
        ("line\u2028break.txt", "line break.txt"),
        (".htaccess", "htaccess"),
        ("...", "attachment"),
        ("", "attachment"),
        ("notes. . .", "notes"),
        ("CON", "attachment"),
        ("con.txt", "attachment.txt"),
        ("LPT1.tar.gz", "attachment.tar.gz"),
        ("CONSOLE.txt", "CONSOLE.txt"),
        ('a<b>:"c"|d?*.txt', "a_b___c__d__.txt"),
        ("Cafe\u0301  menu\t.txt", "Café menu.txt"),
    ],
)
def test_a_name_is_kept_for_display_without_what_could_mislead_or_harm(sent, shown):
    assert display_name(sent) == shown


@pytest.mark.parametrize("stem", ["x" * 400, "é" * 300, "報告" * 100])
def test_an_overlong_name_is_shortened_to_what_a_file_system_stores_keeping_its_extension(stem):
    shown = display_name(f"{stem}.pdf")

    assert len(shown.encode()) <= 255
    assert shown.endswith(".pdf")
    assert stem.startswith(shown.removesuffix(".pdf"))  # cut on a character, never inside one


DISPOSITION = re.compile(
    r"attachment; filename=\"(?P<ascii>[^\"\\\\]*)\"; "
    r"filename\*=UTF-8''(?P<encoded>[A-Za-z0-9%._~-]+)"
)


@pytest.mark.parametrize(
    ("name", "ascii_name", "full_name"),
    [
        ("report.pdf", "report.pdf", "report.pdf"),
        ("Café “Q3”.pdf", "Cafe Q3.pdf", "Café “Q3”.pdf"),
        ("報告.pdf", "download.pdf", "報告.pdf"),
        ('x"; filename="evil.html', "x__ filename=_evil.html", "x_; filename=_evil.html"),
        ("a\r\nContent-Type: text/html", "html", "html"),
    ],
)
def test_a_download_offers_a_safe_ascii_name_and_the_full_name_rfc_6266(
    name, ascii_name, full_name
):
    header = downloads.content_disposition(name)

    parts = DISPOSITION.fullmatch(header)  # exactly two parameters, nothing smuggled in
    assert parts is not None, header
    assert parts["ascii"] == ascii_name
    assert unquote(parts["encoded"]) == full_name


# --- the headers of every file served ---------------------------------------------------------


def assert_safe_download(response, *, content_type: str, public: bool = False) -> None:
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] == content_type
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert "filename*=UTF-8''" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["Cache-Control"] == ("public, no-cache" if public else "private, no-store")


def test_an_attachment_is_served_as_opaque_bytes_under_its_display_name(client, world):
    author = world.users["author_a"]
    version = write_draft(author, world.occupation_a, visibility="held_out")
    client.force_login(author)
    client.post(
        reverse("occupations:upload_attachment", args=[version.task.slug]),
        {"file": SimpleUploadedFile("Übersicht\u202e.csv", b"date,amount\n2026-01-02,10\n")},
    )
    attachment = version.attachments.get()

    response = client.get(reverse("occupations:attachment", args=[attachment.pk]))

    assert_safe_download(response, content_type="application/octet-stream")
    assert attachment.original_name == "Übersicht.csv"
    assert "filename*=UTF-8''%C3%9Cbersicht.csv" in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == b"date,amount\n2026-01-02,10\n"


def test_the_task_export_is_a_private_download(client, world):
    author = world.users["author_a"]
    write_draft(author, world.occupation_a, title="Held back", visibility="held_out")
    client.force_login(author)

    response = client.get(reverse("occupations:export"), {"held_out": "1"})

    assert_safe_download(response, content_type="application/x-ndjson")
    assert b"Held back" in response.content


def test_approved_release_files_are_public_and_revalidated_by_etag(client, approved_release):
    for fmt in exports.FORMATS:
        url = reverse("reports:release_download", args=[approved_release.identifier, fmt])
        response = client.get(url)
        if fmt == "html":  # the printable report, one of our own pages, opens in the browser
            assert response["Content-Disposition"].startswith("inline; filename=")
            assert response["Content-Security-Policy"] == downloads.PAGE_POLICY
            assert response["X-Content-Type-Options"] == "nosniff"
            assert response["Cache-Control"] == "public, no-cache"
        else:
            media_type = response["Content-Type"].split(";")[0]
            assert_safe_download(response, content_type=media_type, public=True)
        etag = response["ETag"]

        again = client.get(url, headers={"If-None-Match": etag})

        assert again.status_code == 304, fmt
        assert again["ETag"] == etag
        assert again["Cache-Control"] == "public, no-cache"


def test_draft_release_files_are_kept_by_no_cache(client, make_release, users):
    draft = make_release()
    client.force_login(users["analyst"])
    for fmt in ("csv", "pdf", "json"):
        url = reverse("reports:release_download", args=[draft.identifier, fmt])
        response = client.get(url)
        assert_safe_download(response, content_type=response["Content-Type"].split(";")[0])
        assert "ETag" not in response


def test_an_export_made_as_it_is_sent_gets_the_same_headers():
    pieces = iter([b"id,action\n", b"1,create\n"])

    response = downloads.file_response(pieces, filename="audit.csv", content_type="text/csv")

    assert response.streaming
    assert_safe_download(response, content_type="text/csv")
    assert b"".join(response.streaming_content) == b"id,action\n1,create\n"


def test_the_validation_csv_is_a_private_download(client, seeded, make_endpoint, settings):
    settings.EVALBUILDER_VALIDATION_MIN_SAMPLES = 2
    world = ValidationWorld(make_endpoint)
    validation.validate(world.judge, world.panel)
    client.force_login(make_world().users["analyst"])

    response = client.get(reverse("graders:validation_export", kwargs={"pk": world.judge.pk}))

    assert_safe_download(response, content_type="text/csv")
    assert response.content.decode().startswith("grader,")

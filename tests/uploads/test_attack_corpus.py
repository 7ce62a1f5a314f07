"""Hostile files through the clinical upload route: refused, or stored harmless.

Refused (415, nothing stored): executables under a document's name, markup that a
browser would run (HTML, SVG with script), an executable wearing a PDF signature further
in, macro-enabled Office files. Neutralised: an image carrying a payload after its end
is re-encoded (the payload is gone), a decompression bomb is refused before decoding
(413), a ZIP bomb dressed as DOCX is never decompressed, and no file name reaches the
store or a download header as given.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import httpx
import pytest
from PIL import Image

from medhub.config import Settings
from tests.assertions import assert_error
from tests.consultations.helpers import Clinic
from tests.documents import samples
from tests.uploads.helpers import AdminSql, download, patient_document, photo, post_upload

ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 64
HTML = b"<!DOCTYPE html><html><body><script>fetch('/api/v1/users/me')</script></body></html>"
SVG = b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(document.cookie)'/>"
PAYLOAD = b"<script>alert(1)</script>PK\x03\x04hidden-archive"


def stored_files(settings: Settings) -> list[Path]:
    return sorted(p for p in settings.data_dir.rglob("*") if p.is_file() and "files" in p.parts)


def docx_bomb() -> bytes:
    """A valid DOCX whose one extra part inflates to 64 MiB (about 64 KiB on the wire)."""
    buffer = io.BytesIO(samples.docx())
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/media/bomb.bin", b"\x00" * (64 * 1024 * 1024))
    return buffer.getvalue()


def pixel_bomb(side: int) -> bytes:
    """A small black-and-white PNG, `side` pixels wide and high."""
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


async def upload(client: httpx.AsyncClient, clinic: Clinic, **kwargs: object) -> httpx.Response:
    return await post_upload(
        client,
        clinic.doctor,
        "/patient",
        patient_id=clinic.chart.id,
        document_type="consent",
        **kwargs,
    )


@pytest.mark.parametrize(
    ("content", "file_name", "content_type"),
    [
        (samples.EXE, "lab-report.pdf", "application/pdf"),
        (ELF, "scan.png", "image/png"),
        (HTML, "notes.txt", "text/plain"),
        (SVG, "xray.png", "image/png"),
        (SVG, "xray.svg", "image/svg+xml"),
        (b"MZ" + samples.pdf(), "consent.pdf", "application/pdf"),
        (samples.docx(macros=True), "letter.docx", "application/octet-stream"),
    ],
    ids=["exe-as-pdf", "elf-as-png", "html-as-txt", "svg-as-png", "svg", "mz-pdf", "macros"],
)
async def test_hostile_content_is_refused_whatever_its_name(
    *,
    client: httpx.AsyncClient,
    clinic: Clinic,
    settings: Settings,
    admin_sql: AdminSql,
    content: bytes,
    file_name: str,
    content_type: str,
) -> None:
    response = await upload(
        client, clinic, content=content, file_name=file_name, content_type=content_type
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert admin_sql("SELECT count(*) FROM documents") == [(0,)]
    assert stored_files(settings) == []


async def test_a_payload_after_the_image_is_gone_once_stored(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    polyglot = photo((120, 80)) + PAYLOAD
    stored = await patient_document(
        client, clinic.doctor, clinic, content=polyglot, file_name="wound.jpg"
    )
    got = await download(client, clinic.doctor, stored["download_url"])
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/jpeg"
    assert b"<script>" not in got.content
    assert b"hidden-archive" not in got.content
    assert got.content.startswith(b"\xff\xd8")


# 100 million pixels: past MedHub's 50 million; 400 million: past Pillow's own refusal too.
@pytest.mark.parametrize("side", [10_000, 20_000])
async def test_a_decompression_bomb_is_refused_before_it_is_decoded(
    client: httpx.AsyncClient,
    clinic: Clinic,
    settings: Settings,
    admin_sql: AdminSql,
    side: int,
) -> None:
    bomb = pixel_bomb(side)
    assert len(bomb) < 1024 * 1024
    response = await upload(client, clinic, content=bomb, file_name="scan.png", content_type="")
    error = assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert "pixels" in error["message"]
    assert admin_sql("SELECT count(*) FROM documents") == [(0,)]
    assert stored_files(settings) == []


async def test_a_zip_bomb_dressed_as_docx_is_never_inflated(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    bomb = docx_bomb()
    assert len(bomb) < 1024 * 1024
    stored = await patient_document(client, clinic.doctor, clinic, content=bomb, file_name="a.docx")
    assert stored["file_size"] == len(bomb)
    got = await download(client, clinic.doctor, stored["download_url"])
    assert got.content == bomb  # stored and served as received, never unpacked


@pytest.mark.parametrize(
    "file_name",
    [
        "../../../../etc/passwd.pdf",
        "..\\..\\windows\\system32\\config.pdf",
        "/var/lib/medhub/files/x.pdf",
        "report\u202etxt.exe.pdf",  # right-to-left override: shows as "report.exe.txt"
        'quote"; filename="evil.html.pdf',
        "line\r\nSet-Cookie: session=stolen.pdf",
        "CON.pdf",
        "\x00hidden.pdf",
    ],
)
async def test_no_file_name_reaches_the_store_or_the_download_header_as_given(
    client: httpx.AsyncClient, clinic: Clinic, settings: Settings, file_name: str
) -> None:
    stored = await patient_document(
        client, clinic.doctor, clinic, content=samples.pdf(), file_name=file_name
    )
    name = stored["file_name"]
    for unsafe in ("/", "\\", "..", "\u202e", '"', "\r", "\n", "\x00"):
        assert unsafe not in name, (file_name, name)
    assert name.endswith(".pdf")
    [path] = stored_files(settings)
    assert path.name == f"{stored['id']}.pdf"  # the key is ours, not the client's
    got = await download(client, clinic.doctor, stored["download_url"])
    disposition = got.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "\r" not in disposition
    assert "\n" not in disposition
    assert got.headers["x-content-type-options"] == "nosniff"

"""Paths, uploads through the API, and images with metadata, for the uploads tests."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from PIL import ExifTags, Image, PngImagePlugin

from medhub.config import Settings
from tests.consultations.helpers import Clinic, records_of
from tests.doctors.helpers import data
from tests.factories import Account

API = "/api/v1"
UPLOAD = f"{API}/upload"
DOCUMENTS = f"{API}/documents"
UNKNOWN = uuid.UUID("00000000-0000-4000-8000-00000000dead")
AdminSql = Callable[..., list[tuple[Any, ...]]]
# Where the test photo was "taken" (Berlin), and by whom: none of it may be stored.
LATITUDE = (52.0, 31.0, 12.0)
LONGITUDE = (13.0, 24.0, 36.0)
OWNER = "Ann Lee"


def photo(
    size: tuple[int, int] = (1200, 800),
    *,
    orientation: int | None = None,
    image_format: str = "JPEG",
) -> bytes:
    """A phone photo: EXIF with GPS, camera and owner, a comment (JPEG) or text chunk
    (PNG). Left half red, right half blue, so its orientation can be checked."""
    image = Image.new("RGB", size, (220, 20, 20))
    image.paste((20, 20, 220), (size[0] // 2, 0, size[0], size[1]))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneCo"
    exif[ExifTags.Base.Artist] = OWNER
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(
        {
            ExifTags.GPS.GPSLatitudeRef: "N",
            ExifTags.GPS.GPSLatitude: LATITUDE,
            ExifTags.GPS.GPSLongitudeRef: "E",
            ExifTags.GPS.GPSLongitude: LONGITUDE,
        }
    )
    buffer = io.BytesIO()
    if image_format == "JPEG":
        image.save(buffer, "JPEG", exif=exif, comment=f"{OWNER}, ward 4".encode(), quality=90)
    else:
        text = PngImagePlugin.PngInfo()
        text.add_text("Author", OWNER)
        image.save(buffer, "PNG", exif=exif, pnginfo=text)
    return buffer.getvalue()


def gps_of(content: bytes) -> dict[int, Any]:
    with Image.open(io.BytesIO(content)) as image:
        return dict(image.getexif().get_ifd(ExifTags.IFD.GPSInfo))


def has_no_metadata(content: bytes) -> bool:
    with Image.open(io.BytesIO(content)) as image:
        exif = image.getexif()
        kept = set(image.info) - {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi"}
    return (
        len(exif) == 0
        and not kept
        and b"Exif\x00\x00" not in content
        and OWNER.encode() not in content
        and b"PhoneCo" not in content
    )


def image_size(content: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(content)) as image:
        return image.size


async def post_upload(
    client: httpx.AsyncClient,
    account: Account | None,
    path: str = "",
    *,
    content: bytes,
    file_name: str = "scan.pdf",
    content_type: str = "application/pdf",
    **fields: Any,
) -> httpx.Response:
    return await client.post(
        f"{UPLOAD}{path}",
        data={name: str(value) for name, value in fields.items() if value is not None},
        files={"file": (file_name, content, content_type)},
        headers=account.headers if account else None,
    )


async def uploaded(
    client: httpx.AsyncClient, account: Account, path: str = "", **kwargs: Any
) -> dict[str, Any]:
    result: dict[str, Any] = data(await post_upload(client, account, path, **kwargs), 201)
    return result


async def patient_document(
    client: httpx.AsyncClient,
    account: Account,
    clinic: Clinic,
    *,
    document_type: str = "id_card",
    **kwargs: Any,
) -> dict[str, Any]:
    return await uploaded(
        client,
        account,
        "/patient",
        patient_id=clinic.chart.id,
        document_type=document_type,
        **kwargs,
    )


async def medical_file(
    client: httpx.AsyncClient, clinic: Clinic, *, record_id: Any = None, **kwargs: Any
) -> dict[str, Any]:
    return await uploaded(
        client, clinic.doctor, "/medical", patient_id=clinic.chart.id, record_id=record_id, **kwargs
    )


async def add_record(client: httpx.AsyncClient, clinic: Clinic) -> dict[str, Any]:
    body = {"kind": "imaging", "recorded_on": "2026-01-15", "title": "Chest X-ray"}
    result: dict[str, Any] = data(
        await client.post(records_of(clinic.chart.id), json=body, headers=clinic.doctor.headers),
        201,
    )
    return result


async def download(client: httpx.AsyncClient, account: Account | None, url: str) -> httpx.Response:
    return await client.get(url, headers=account.headers if account else None)


def stored_files(settings: Settings) -> list[Path]:
    return sorted(p for p in settings.data_dir.rglob("*") if p.is_file() and "files" in p.parts)

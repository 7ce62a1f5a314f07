"""What an upload really is, decided from its bytes; the client's name and Content-Type
are never trusted (an `.exe` renamed `invoice.pdf` starts with `MZ`, not `%PDF-`).

Allowed: PDF, PNG, JPEG, DOCX, XLSX and CSV. DOCX and XLSX are ZIP archives, told
apart by the part every such document must contain; macro-enabled variants (a
`vbaProject.bin` inside) are refused. CSV has no signature: it is accepted when the
bytes are UTF-8 text without control characters that a CSV parser reads as rows of
at least two fields.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass

# Enough of a CSV to find its delimiter (the sniffer is slow on large samples);
# the whole file is still parsed.
_CSV_SAMPLE = 8 * 1024
# Control characters other than tab, CR and LF mean binary, not text.
_BINARY_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MACRO_PARTS = ("word/vbaProject.bin", "xl/vbaProject.bin")


@dataclass(frozen=True)
class FileKind:
    mime_type: str
    extension: str  # the canonical one, used for storage keys and offered names
    aliases: frozenset[str] = frozenset()  # other extensions a client's name may keep

    @property
    def extensions(self) -> frozenset[str]:
        return self.aliases | {self.extension}


PDF = FileKind("application/pdf", "pdf")
PNG = FileKind("image/png", "png")
JPEG = FileKind("image/jpeg", "jpg", frozenset({"jpeg"}))
DOCX = FileKind("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx")
XLSX = FileKind("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx")
CSV = FileKind("text/csv", "csv")

ALLOWED_KINDS = (PDF, PNG, JPEG, DOCX, XLSX, CSV)
ALLOWED_DESCRIPTION = "PDF, PNG, JPEG, DOCX, XLSX or CSV"


class UnsupportedContent(ValueError):
    """The bytes are none of the allowed kinds; the message says what was seen."""


def sniff(data: bytes) -> FileKind:
    """The kind of `data`, or UnsupportedContent."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"PK\x03\x04"):
        return _office_document(data)
    if _is_csv(data):
        return CSV
    raise UnsupportedContent(f"The file is {_describe(data)}; allowed types: {ALLOWED_DESCRIPTION}")


def _office_document(data: bytes) -> FileKind:
    try:
        # Only the central directory is read: nothing is decompressed, so a zip bomb
        # costs no more than its listing.
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        raise UnsupportedContent(
            f"The file is a damaged ZIP archive; allowed types: {ALLOWED_DESCRIPTION}"
        ) from exc
    if any(part in names for part in _MACRO_PARTS):
        raise UnsupportedContent("Macro-enabled Office documents are not accepted")
    if "[Content_Types].xml" in names:
        if "word/document.xml" in names:
            return DOCX
        if "xl/workbook.xml" in names:
            return XLSX
    raise UnsupportedContent(
        f"The file is a ZIP archive, not a DOCX or XLSX document; allowed types: "
        f"{ALLOWED_DESCRIPTION}"
    )


def _is_csv(data: bytes) -> bool:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    if _BINARY_CONTROLS.search(text):
        return False
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text[:_CSV_SAMPLE], delimiters=",;\t"
        )
    except csv.Error:
        dialect = csv.excel
    try:
        rows = csv.reader(io.StringIO(text, newline=""), dialect, strict=True)
        first = next(rows, None)
        if first is None or len(first) < 2:
            return False
        for _ in rows:
            pass
    except csv.Error:
        return False
    return True


def _describe(data: bytes) -> str:
    """A short, human name for what the bytes look like, for the error message."""
    signatures = (
        (b"MZ", "a Windows executable"),
        (b"\x7fELF", "an ELF executable"),
        (b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
        (b"#!", "a script"),
        (b"GIF8", "a GIF image"),
        (b"\xd0\xcf\x11\xe0", "a legacy Office (OLE) document"),
        (b"Rar!", "a RAR archive"),
        (b"\x1f\x8b", "a gzip archive"),
        (b"7z\xbc\xaf", "a 7-Zip archive"),
    )
    for signature, description in signatures:
        if data.startswith(signature):
            return description
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<svg", b"<?xml")):
        return "markup (HTML, SVG or XML)"
    return "of an unrecognised type"

"""What an upload really is, decided from its bytes; the client's name and Content-Type
are never trusted (an `.exe` renamed `invoice.pdf` starts with `MZ`, not `%PDF-`).

Product and order documents may be PDF, PNG, JPEG, DOCX, XLSX and CSV
(`ALLOWED_KINDS`); clinical uploads PDF, JPEG, PNG, DOC, DOCX and plain text
(`CLINICAL_KINDS`). A caller passes the kinds it accepts; anything else is refused
with what the bytes were found to be.

DOCX and XLSX are ZIP archives, told apart by the part every such document must
contain; macro-enabled variants (a `vbaProject.bin` inside) are refused. DOC is a
legacy Office (OLE compound) file whose directory holds a `WordDocument` stream;
other OLE files (XLS, PPT, MSI...) and Word files with macros are refused. CSV has no
signature: it is accepted when the bytes are UTF-8 text without control characters
that a CSV parser reads as rows of at least two fields. Plain text is UTF-8 without
control characters and not markup (HTML, SVG, XML).
"""

from __future__ import annotations

import csv
import io
import re
import struct
import zipfile
from collections.abc import Collection
from dataclasses import dataclass

# Enough of a CSV to find its delimiter (the sniffer is slow on large samples);
# the whole file is still parsed.
_CSV_SAMPLE = 8 * 1024
# Control characters other than tab, CR and LF mean binary, not text.
_BINARY_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MACRO_PARTS = ("word/vbaProject.bin", "xl/vbaProject.bin")
_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Storages a Word document with macros holds (Word 97-2003: "Macros"; Word 6/95:
# "_VBA_PROJECT_CUR" at the root).
_OLE_MACRO_ENTRIES = frozenset({"Macros", "_VBA_PROJECT_CUR", "_VBA_PROJECT"})
_MARKUP_STARTS = (b"<!doctype html", b"<html", b"<svg", b"<?xml")


@dataclass(frozen=True)
class FileKind:
    mime_type: str
    extension: str  # the canonical one, used for storage keys and offered names
    aliases: frozenset[str] = frozenset()  # other extensions a client's name may keep
    name: str = ""  # how messages call it: "PDF", "DOCX"...

    @property
    def extensions(self) -> frozenset[str]:
        return self.aliases | {self.extension}


PDF = FileKind("application/pdf", "pdf", name="PDF")
PNG = FileKind("image/png", "png", name="PNG")
JPEG = FileKind("image/jpeg", "jpg", frozenset({"jpeg"}), name="JPEG")
DOC = FileKind("application/msword", "doc", name="DOC")
DOCX = FileKind(
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx", name="DOCX"
)
XLSX = FileKind(
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx", name="XLSX"
)
CSV = FileKind("text/csv", "csv", name="CSV")
TXT = FileKind("text/plain", "txt", frozenset({"text"}), name="TXT")

# Product, certification and order documents.
ALLOWED_KINDS = (PDF, PNG, JPEG, DOCX, XLSX, CSV)
# Clinical uploads (patients' documents, medical files, a user's own documents).
CLINICAL_KINDS = (PDF, JPEG, PNG, DOC, DOCX, TXT)
IMAGE_KINDS = frozenset({PNG, JPEG})
# Kinds whose first bytes say what they are, whatever else follows.
_SIGNATURES = ((b"%PDF-", PDF), (b"\x89PNG\r\n\x1a\n", PNG), (b"\xff\xd8\xff", JPEG))


def describe_kinds(kinds: Collection[FileKind]) -> str:
    """'PDF, PNG or JPEG': the kinds a message lists as allowed."""
    names = [kind.name for kind in kinds]
    if len(names) < 2:
        return "".join(names)
    return f"{', '.join(names[:-1])} or {names[-1]}"


ALLOWED_DESCRIPTION = describe_kinds(ALLOWED_KINDS)


class UnsupportedContent(ValueError):
    """The bytes are none of the allowed kinds; the message says what was seen."""


def sniff(data: bytes, kinds: Collection[FileKind] = ALLOWED_KINDS) -> FileKind:
    """The kind of `data` if it is one of `kinds`, or UnsupportedContent."""
    allowed = describe_kinds(kinds)
    found = _identify(data, kinds, allowed)
    if found is None:
        raise UnsupportedContent(f"The file is {_describe(data)}; allowed types: {allowed}")
    if found not in kinds:
        raise UnsupportedContent(f"The file is of type {found.name}; allowed types: {allowed}")
    return found


def _identify(data: bytes, kinds: Collection[FileKind], allowed: str) -> FileKind | None:
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            return kind
    if data.startswith(b"PK\x03\x04"):
        return _office_document(data, allowed)
    if data.startswith(_OLE_SIGNATURE) and DOC in kinds:
        return _legacy_word(data, allowed)
    # Text has no signature: CSV where a caller takes it, plain text where it takes that.
    for kind, looks_like in ((CSV, _is_csv), (TXT, _is_text)):
        if kind in kinds and looks_like(data):
            return kind
    return None


def _office_document(data: bytes, allowed: str) -> FileKind:
    try:
        # Only the central directory is read: nothing is decompressed, so a zip bomb
        # costs no more than its listing.
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        raise UnsupportedContent(
            f"The file is a damaged ZIP archive; allowed types: {allowed}"
        ) from exc
    if any(part in names for part in _MACRO_PARTS):
        raise UnsupportedContent("Macro-enabled Office documents are not accepted")
    if "[Content_Types].xml" in names:
        if "word/document.xml" in names:
            return DOCX
        if "xl/workbook.xml" in names:
            return XLSX
    raise UnsupportedContent(
        f"The file is a ZIP archive, not a DOCX or XLSX document; allowed types: {allowed}"
    )


class _DamagedOle(ValueError):
    pass


# Sector numbers of the compound file format (MS-CFB) that are not sectors.
_MAX_REGULAR_SECTOR = 0xFFFFFFFA
_END_OF_CHAIN = 0xFFFFFFFE
_FREE_SECTOR = 0xFFFFFFFF
_HEADER_DIFAT_ENTRIES = 109
_DIRECTORY_ENTRY_SIZE = 128


def _legacy_word(data: bytes, allowed: str) -> FileKind:
    try:
        names = _ole_entry_names(data)
    except (_DamagedOle, struct.error) as exc:
        raise UnsupportedContent(
            f"The file is a damaged legacy Office (OLE) document; allowed types: {allowed}"
        ) from exc
    if "WordDocument" not in names:
        raise UnsupportedContent(
            f"The file is a legacy Office (OLE) document other than Word (DOC); "
            f"allowed types: {allowed}"
        )
    if names & _OLE_MACRO_ENTRIES:
        raise UnsupportedContent("Macro-enabled Office documents are not accepted")
    return DOC


def _ole_entry_names(data: bytes) -> set[str]:
    """The names of the streams and storages of an OLE compound file (MS-CFB).

    Only the header, the sector allocation table and the directory are read, every
    chain bounded by the file's own size, so a crafted file cannot loop or reach past
    its end."""
    if len(data) < 512:
        raise _DamagedOle("shorter than its header")
    sector_shift = struct.unpack_from("<H", data, 0x1E)[0]
    if sector_shift not in (9, 12):
        raise _DamagedOle("unknown sector size")
    size = 1 << sector_shift
    sector_count = (len(data) - 512) // size + 1
    fat_count, first_directory = struct.unpack_from("<II", data, 0x2C)
    first_difat, difat_count = struct.unpack_from("<II", data, 0x44)

    def sector(number: int) -> bytes:
        offset = (number + 1) * size
        if number > _MAX_REGULAR_SECTOR or offset + size > len(data):
            raise _DamagedOle("a sector past the end of the file")
        return data[offset : offset + size]

    per_sector = size // 4
    difat = list(struct.unpack_from(f"<{_HEADER_DIFAT_ENTRIES}I", data, 0x4C))
    next_difat = first_difat
    for _ in range(min(difat_count, sector_count)):
        if next_difat in (_END_OF_CHAIN, _FREE_SECTOR):
            break
        entries = struct.unpack(f"<{per_sector}I", sector(next_difat))
        difat.extend(entries[:-1])
        next_difat = entries[-1]
    fat: list[int] = []
    for number in [n for n in difat if n <= _MAX_REGULAR_SECTOR][: min(fat_count, sector_count)]:
        fat.extend(struct.unpack(f"<{per_sector}I", sector(number)))

    names: set[str] = set()
    current, visited = first_directory, set()
    while current != _END_OF_CHAIN:
        if current in visited or current >= len(fat):
            raise _DamagedOle("a broken directory chain")
        visited.add(current)
        block = sector(current)
        for start in range(0, size, _DIRECTORY_ENTRY_SIZE):
            entry = block[start : start + _DIRECTORY_ENTRY_SIZE]
            length = struct.unpack_from("<H", entry, 64)[0]
            # Object type: 1 storage, 2 stream, 5 root; 0 an unused slot.
            if entry[66] in (1, 2, 5) and 2 <= length <= 64 and length % 2 == 0:
                names.add(entry[: length - 2].decode("utf-16-le", errors="replace"))
        current = fat[current]
    return names


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


def _is_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    if not text.strip() or _BINARY_CONTROLS.search(text):
        return False
    # Markup is refused rather than kept as "text": it is what a browser would run.
    return not text[:512].lstrip().lower().encode().startswith(_MARKUP_STARTS)


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
    if head.startswith(_MARKUP_STARTS):
        return "markup (HTML, SVG or XML)"
    return "of an unrecognised type"

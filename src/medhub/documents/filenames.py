"""File names from clients, made safe to store and to offer back on download.

A client's name is only ever a label: it never becomes part of a storage key. It
is still cleaned, because it is shown in lists and sent back in
`Content-Disposition`: no directories, no control or invisible formatting
characters (a right-to-left override can disguise `cod.exe` as `exe.doc`), no
quotes, and an extension that matches what the bytes really are.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from medhub.documents.sniffing import FileKind

MAX_FILE_NAME_LENGTH = 255  # documents.file_name is VARCHAR(255)
DEFAULT_STEM = "document"
# Characters Windows refuses in names, and quotes: replaced rather than dropped,
# so "a:b.pdf" stays readable as "a_b.pdf".
_RESERVED = re.compile(r'[<>:"|?*\'`]')
_SPACES = re.compile(r"\s+")
# What survives in the plain `filename=` fallback for old clients.
_ASCII_UNSAFE = re.compile(r"[^A-Za-z0-9 ._()+-]")


def _visible(text: str) -> str:
    # Unicode category C*: controls (NUL, CR, LF...), formatting (bidi overrides,
    # zero-width joiners), surrogates, private use and unassigned code points.
    return "".join(char for char in text if not unicodedata.category(char).startswith("C"))


def clean_file_name(raw: str | None, kind: FileKind) -> str:
    """The last path component of `raw`, cleaned, ending in an extension of `kind`."""
    name = unicodedata.normalize("NFC", raw or "")
    # Both separators, whatever the server's OS: "..\\x.pdf" and "../../etc/passwd"
    # leave only their last component.
    name = re.split(r"[/\\]", name)[-1]
    name = _visible(name)
    name = _RESERVED.sub("_", name)
    # Trailing dots and spaces are dropped by Windows; leading dots (hidden files)
    # go with the stem below, so ".pdf" becomes "document.pdf", not "pdf.pdf".
    name = _SPACES.sub(" ", name).strip().rstrip(" .")
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    if suffix.lower() not in kind.extensions:
        # Appended rather than swapped: "report.exe" becomes "report.exe.pdf", which
        # opens as what it is and keeps what the uploader called it.
        stem, suffix = name, kind.extension
    stem = stem.strip(" .") or DEFAULT_STEM
    room = MAX_FILE_NAME_LENGTH - len(suffix) - 1
    return f"{stem[:room].rstrip(' .') or DEFAULT_STEM}.{suffix}"


def content_disposition(file_name: str) -> str:
    """`attachment` with an ASCII `filename` for old clients and the exact name in
    `filename*` (RFC 6266, RFC 5987 percent-encoded UTF-8)."""
    name = _RESERVED.sub("_", _visible(re.split(r"[/\\]", file_name)[-1])).strip(" .")
    name = name or DEFAULT_STEM
    # "Résumé" falls back to "Resume" (accents dropped), other letters to "_".
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_name = "".join(c for c in decomposed if not unicodedata.combining(c))
    ascii_name = _ASCII_UNSAFE.sub("_", ascii_name).strip(" .") or DEFAULT_STEM
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"

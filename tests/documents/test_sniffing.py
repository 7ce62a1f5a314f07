"""What an upload is (by its bytes) and what it may be called (cleaned names)."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medhub.documents.filenames import MAX_FILE_NAME_LENGTH, clean_file_name, content_disposition
from medhub.documents.sniffing import (
    ALLOWED_KINDS,
    CLINICAL_KINDS,
    CSV,
    DOC,
    DOCX,
    JPEG,
    PDF,
    PNG,
    TXT,
    XLSX,
    FileKind,
    UnsupportedContent,
    sniff,
)
from tests.documents import samples

# --- sniffing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (samples.pdf(), PDF),
        (samples.PNG, PNG),
        (samples.JPEG, JPEG),
        (samples.docx(), DOCX),
        (samples.xlsx(), XLSX),
        (samples.CSV, CSV),
        (b"\xef\xbb\xbfname;qty\r\nAspirin;3\r\n", CSV),  # BOM, semicolons, CRLF
        ("produit,quantit\u00e9\nCaf\u00e9ine,2\n".encode(), CSV),
        (b'name,notes\n"Amoxicillin","500 mg, capsules"\n', CSV),
    ],
)
def test_allowed_types_are_recognised_by_content(data: bytes, kind: FileKind) -> None:
    assert sniff(data) is kind


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (samples.EXE, "Windows executable"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 32, "ELF executable"),
        (b"#!/bin/sh\nrm -rf /\n", "allowed types"),
        (b"GIF89a\x01\x00\x01\x00", "GIF image"),
        (b"<!DOCTYPE html><script>alert(1)</script>", "markup"),
        (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "markup"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "legacy Office"),
        (samples.zip_of({"readme.txt": b"hello"}), "not a DOCX or XLSX"),
        (samples.zip_of({"word/document.xml": b"<w/>"}), "not a DOCX or XLSX"),
        (b"PK\x03\x04" + b"\x00" * 40, "damaged ZIP"),
        (samples.docx(macros=True), "Macro-enabled"),
        (b"just one column of text\nand another line\n", "allowed types"),
        (b"a,b\n1,\x002\n", "allowed types"),  # NUL: binary, not text
        (b"a,b\n\xff\xfe,1\n", "allowed types"),  # not UTF-8
        (b'a,b\n"unterminated,1\n', "allowed types"),
        (b"\x00" * 32, "allowed types"),
    ],
)
def test_everything_else_is_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(UnsupportedContent, match=reason):
        sniff(data)


def test_a_pdf_signature_must_open_the_file() -> None:
    with pytest.raises(UnsupportedContent):
        sniff(b"MZ" + samples.pdf())


# --- clinical kinds: PDF, JPEG, PNG, DOC, DOCX, TXT --------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (samples.pdf(), PDF),
        (samples.PNG, PNG),
        (samples.JPEG, JPEG),
        (samples.docx(), DOCX),
        (samples.ole("WordDocument", "1Table"), DOC),
        (b"Blood pressure 120/80, pulse 64.\nNo complaints.\n", TXT),
        ("\ufeffTemp\u00e9rature 37,2 \u00b0C\r\n".encode(), TXT),  # BOM, accents, CRLF
        (samples.CSV, TXT),  # a CSV is plain text where CSV is not one of the kinds
    ],
)
def test_clinical_kinds_are_recognised_by_content(data: bytes, kind: FileKind) -> None:
    assert sniff(data, CLINICAL_KINDS) is kind


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (samples.EXE, "Windows executable"),
        (samples.xlsx(), "of type XLSX; allowed types: PDF, JPEG, PNG, DOC, DOCX or TXT"),
        (samples.ole("Workbook"), "other than Word"),
        (samples.ole("WordDocument", "Macros"), "Macro-enabled"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "damaged legacy Office"),
        (b"<!DOCTYPE html><script>alert(1)</script>", "markup"),
        (b"text with a NUL\x00 inside", "allowed types"),
        (b"\xff\xfe not UTF-8", "allowed types"),
        (b" \n\t ", "allowed types"),
    ],
)
def test_clinical_kinds_refuse_everything_else(data: bytes, reason: str) -> None:
    with pytest.raises(UnsupportedContent, match=re.escape(reason)):
        sniff(data, CLINICAL_KINDS)


def test_documents_keep_refusing_doc_and_plain_text() -> None:
    with pytest.raises(UnsupportedContent, match="legacy Office"):
        sniff(samples.ole("WordDocument"))
    with pytest.raises(
        UnsupportedContent, match="allowed types: PDF, PNG, JPEG, DOCX, XLSX or CSV"
    ):
        sniff(b"just a note\n")


def test_a_directory_chain_that_loops_is_damaged() -> None:
    data = bytearray(samples.ole("WordDocument"))
    # FAT entry of the directory sector (sector 1) pointing at itself.
    data[512 + 4 : 512 + 8] = (1).to_bytes(4, "little")
    with pytest.raises(UnsupportedContent, match="damaged"):
        sniff(bytes(data), CLINICAL_KINDS)


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind", "expected"),
    [
        ("Datasheet v2.pdf", PDF, "Datasheet v2.pdf"),
        ("REPORT.PDF", PDF, "REPORT.PDF"),
        ("photo.jpeg", JPEG, "photo.jpeg"),
        ("../../etc/passwd", PDF, "passwd.pdf"),
        ("..\\..\\windows\\x.pdf", PDF, "x.pdf"),
        ("C:\\Users\\me\\spec.docx", DOCX, "spec.docx"),
        ("evil\x00.pdf", PDF, "evil.pdf"),
        ("line\r\nbreak.pdf", PDF, "linebreak.pdf"),
        ("invoice.exe", PDF, "invoice.exe.pdf"),
        # A right-to-left override would show "invoice\u202efdp.exe" as "invoiceexe.pdf".
        ("invoice\u202efdp.exe", PDF, "invoicefdp.exe.pdf"),
        ('say "hi".csv', CSV, "say _hi_.csv"),
        ("a:b|c?.png", PNG, "a_b_c_.png"),
        ("  .hidden.pdf  ", PDF, "hidden.pdf"),
        ("..", PDF, "document.pdf"),
        ("", XLSX, "document.xlsx"),
        (None, CSV, "document.csv"),
        (".pdf", PDF, "document.pdf"),
        ("Caf\u0065\u0301 r\u00e9sum\u00e9.pdf", PDF, "Caf\u00e9 r\u00e9sum\u00e9.pdf"),
    ],
)
def test_clean_file_name(raw: str | None, kind: FileKind, expected: str) -> None:
    assert clean_file_name(raw, kind) == expected


def test_long_names_are_cut_keeping_the_extension() -> None:
    name = clean_file_name("x" * 1000 + ".pdf", PDF)
    assert len(name) == MAX_FILE_NAME_LENGTH
    assert name.endswith("x.pdf")


@given(raw=st.text(max_size=400), kind=st.sampled_from(ALLOWED_KINDS))
def test_any_name_is_cleaned_into_a_safe_label(raw: str, kind: FileKind) -> None:
    name = clean_file_name(raw, kind)

    assert 0 < len(name) <= MAX_FILE_NAME_LENGTH
    assert not re.search(r"[/\\\"'<>:|?*`]", name)
    assert all(not unicodedata.category(char).startswith("C") for char in name)
    assert name.rsplit(".", 1)[1].lower() in kind.extensions
    assert not name.startswith((".", " "))
    assert clean_file_name(name, kind) == name  # stable: cleaning twice changes nothing


def test_content_disposition_offers_ascii_and_exact_utf8_names() -> None:
    header = content_disposition("R\u00e9sum\u00e9 \u2014 lot 42.pdf")

    assert header == (
        'attachment; filename="Resume _ lot 42.pdf"; '
        "filename*=UTF-8''R%C3%A9sum%C3%A9%20%E2%80%94%20lot%2042.pdf"
    )


@given(raw=st.text(max_size=300))
def test_content_disposition_cannot_be_broken_out_of(raw: str) -> None:
    header = content_disposition(raw)

    assert header.isascii()
    assert not set(header) & {"\r", "\n"}
    match = re.fullmatch(
        r'attachment; filename="([^"\\]*)"; filename\*=UTF-8\'\'([^\s;"]+)', header
    )
    assert match is not None, header
    assert not set(unquote(match.group(2))) & {"/", "\\"}

"""What an uploaded file is, judged from its bytes alone, and the name it is kept under.

The client's declared content type and file extension are not trusted: the media type
is recognised from the file's signature (and, for Office files, from the entries of the
zip container, read from its central directory without inflating anything) and must be
on the allow-list. Text is text only if it is UTF-8 without control characters and does
not open like markup (HTML or SVG would be rendered by a browser that sniffs).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Mapping
from pathlib import PurePosixPath

from accord.platform.errors import BadInput

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
WEBP = "image/webp"
TEXT = "text/plain"
CSV = "text/csv"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"

#: Allowed media types and the extensions a file of each may carry (the first is used
#: when the uploaded name has none of them).
ALLOWED: Mapping[str, tuple[str, ...]] = {
    PDF: (".pdf",),
    PNG: (".png",),
    JPEG: (".jpg", ".jpeg"),
    GIF: (".gif",),
    WEBP: (".webp",),
    TEXT: (".txt", ".log", ".md"),
    CSV: (".csv",),
    DOCX: (".docx",),
    XLSX: (".xlsx",),
    PPTX: (".pptx",),
}

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"GIF87a", GIF),
    (b"GIF89a", GIF),
)
#: The part an Office Open XML package of each kind must hold (ECMA-376 part 2).
_OOXML_PARTS: tuple[tuple[str, str], ...] = (
    ("word/document.xml", DOCX),
    ("xl/workbook.xml", XLSX),
    ("ppt/presentation.xml", PPTX),
)
_MAX_ZIP_ENTRIES = 10_000
#: C0 controls other than tab, line feed, form feed and carriage return, and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_MARKUP = re.compile(rb"^\s*<(?:!doctype|html|svg|\?xml|script|head|body|iframe)", re.IGNORECASE)
_UNSAFE_NAME_CHARS = re.compile(r'[\\/:*?"<>|;\x00-\x1f\x7f]')
_MAX_NAME = 120


def not_allowed(what: str) -> BadInput:
    allowed = ", ".join(ALLOWED)
    return BadInput(
        f"{what} is not a kind of file Accord keeps as evidence; allowed: {allowed}.",
        reason="EVIDENCE_TYPE_NOT_ALLOWED",
        field="file",
    )


def sniff(content: bytes, *, filename: str | None = None) -> str:
    """The media type of ``content``, or BadInput EVIDENCE_TYPE_NOT_ALLOWED.

    ``filename`` only chooses between two kinds of text (a ``.csv`` that parses as CSV
    is ``text/csv``); it never makes bytes of one kind pass for another.
    """
    for signature, media_type in _SIGNATURES:
        if content.startswith(signature):
            return media_type
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return WEBP
    if content.startswith(b"PK\x03\x04"):
        return _ooxml(content)
    return _text(content, filename)


def _ooxml(content: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            infos = archive.infolist()
            if len(infos) > _MAX_ZIP_ENTRIES:
                raise not_allowed("A zip container of this many entries")
            names = {info.filename for info in infos}
    except zipfile.BadZipFile:
        raise not_allowed("A damaged zip container") from None
    if "[Content_Types].xml" not in names:
        raise not_allowed("A zip archive")
    if any(name.lower().endswith("vbaproject.bin") for name in names):
        raise not_allowed("An Office file with macros")
    for part, media_type in _OOXML_PARTS:
        if part in names:
            return media_type
    raise not_allowed("This Office package")


def _text(content: bytes, filename: str | None) -> str:
    body = content.removeprefix(b"\xef\xbb\xbf")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise not_allowed("A file of unrecognised binary content") from None
    if _CONTROL.search(text):
        raise not_allowed("Text with control characters")
    if _MARKUP.match(body):
        raise not_allowed("Markup (HTML, SVG or XML)")
    if filename and filename.lower().endswith(".csv") and _parses_as_csv(text):
        return CSV
    return TEXT


def _parses_as_csv(text: str) -> bool:
    sample = text[:8192]
    try:
        csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        return False
    return True


def safe_filename(name: str | None, media_type: str) -> str:
    """A name to keep and serve the file under: no directories, no control or bidi
    characters, nothing a header or a shell treats specially, at most 120 characters, and
    an extension that matches what the bytes are (``report.pdf.exe`` of PDF bytes is kept
    as ``report.pdf.exe.pdf``)."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFC", base)
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C")
    base = _UNSAFE_NAME_CHARS.sub("_", base)
    base = " ".join(base.split()).strip(". ")
    extensions = ALLOWED.get(media_type, ("",))
    suffix = PurePosixPath(base).suffix.lower()
    if suffix in extensions and len(base) > len(suffix):
        stem, extension = base[: -len(suffix)], suffix
    else:
        stem, extension = base, extensions[0]
    stem = stem.strip(". ") or "evidence"
    return stem[: _MAX_NAME - len(extension)] + extension

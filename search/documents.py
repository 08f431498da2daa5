"""Knowledge documents out of uploaded files: markdown, plain text or PDF → (id, title, text)."""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings
from django.utils.text import slugify

from clinic.errors import InvalidInput

SUFFIXES = (".md", ".txt", ".pdf")
_MARKDOWN_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.+?)[ \t#:]*$", re.M)


@dataclass(frozen=True)
class DocumentText:
    doc_id: str
    title: str
    text: str


def document_text(*, name: str, data: bytes) -> DocumentText:
    """Read one uploaded file; InvalidInput naming the file when it is empty, unreadable or of another type."""
    suffix = PurePath(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise InvalidInput(f"{name}: expected a .md, .txt or .pdf file")
    if not data.strip():
        raise InvalidInput(f"{name}: the file is empty")
    if len(data) > settings.UPLOAD_MAX_BYTES:
        raise InvalidInput(f"{name}: {len(data):,} bytes, over the {settings.UPLOAD_MAX_BYTES:,}-byte limit")
    title, text = _pdf_text(name, data) if suffix == ".pdf" else _plain_text(name, data)
    if not text.strip():
        raise InvalidInput(f"{name}: no text found (a scanned PDF needs OCR first)")
    if suffix == ".md":
        title = _first_heading(text) or title
        # Markdown headings become "Heading:" lines, which the chunker keeps with their section.
        text = _MARKDOWN_HEADING.sub(lambda m: f"{m.group(1)}:", text)
    return DocumentText(doc_id=document_id(name), title=(title or _name_title(name))[:1000], text=text.strip())


def document_id(name: str) -> str:
    """A stable id from the file name, so uploading the same file again updates its document."""
    stem = PurePath(name).stem
    return (slugify(stem) or stem.strip() or "document")[:200]


def _plain_text(name: str, data: bytes) -> tuple[str, str]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{name}: not UTF-8 text (byte {exc.start}); save it as UTF-8 and upload it again") from exc
    if "\x00" in text:
        raise InvalidInput(f"{name}: contains NUL bytes, so it is not a text file")
    return "", text.replace("\r\n", "\n")


def _pdf_text(name: str, data: bytes) -> tuple[str, str]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise InvalidInput(f"{name}: the PDF is password-protected; upload an unprotected copy")
        if len(reader.pages) > settings.PDF_MAX_PAGES:
            raise InvalidInput(f"{name}: {len(reader.pages)} pages, over the limit of {settings.PDF_MAX_PAGES}; split it")
        deadline = time.monotonic() + settings.PDF_MAX_SECONDS
        pages = []
        for number, page in enumerate(reader.pages, start=1):
            if time.monotonic() > deadline:  # a crafted PDF can make text extraction crawl
                raise InvalidInput(f"{name}: reading stopped at page {number} after {settings.PDF_MAX_SECONDS} s")
            pages.append(page.extract_text() or "")
        title = str(reader.metadata.title or "").strip() if reader.metadata else ""
    except InvalidInput:
        raise
    # pypdf signals a damaged file with its own errors but also with plain ValueError/KeyError/TypeError.
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise InvalidInput(f"{name}: not a readable PDF ({exc})") from exc
    return title, "\n\n".join(p.strip() for p in pages if p.strip()).replace("\x00", "")


def _first_heading(text: str) -> str:
    match = _MARKDOWN_HEADING.search(text)
    return match.group(1).strip() if match else ""


def _name_title(name: str) -> str:
    return re.sub(r"[_-]+", " ", PurePath(name).stem).strip() or name

"""Text extraction from e-library files: type by content, PDF, EPUB and text, hostile files."""

from __future__ import annotations

import io
import sys
import time
import zipfile
from pathlib import Path

import pytest
from fpdf import FPDF

from learning import textextract
from learning.textextract import ExtractionError, Limits, extract_text, read_text, sniff_kind

CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


def make_pdf(lines: list[str], *, chinese: bool = False) -> bytes:
    """A small real PDF with one line of text per page."""
    pdf = FPDF()
    if chinese:
        pdf.add_font("wqy", fname=str(CJK_FONT))
        pdf.set_font("wqy", size=14)
    else:
        pdf.set_font("helvetica", size=14)
    for line in lines:
        pdf.add_page()
        pdf.cell(text=line)
    return bytes(pdf.output())


def make_epub(chapters: list[str], *, with_opf: bool = True) -> bytes:
    """A minimal EPUB: mimetype first, a container, an OPF with a spine, XHTML chapters."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as book:
        book.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        book.writestr(
            "META-INF/container.xml",
            '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
            '<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
            "</rootfiles></container>",
        )
        items = "".join(
            f'<item id="c{i}" href="text/c{i}.xhtml" media-type="application/xhtml+xml"/>' for i in range(len(chapters))
        )
        # the spine lists chapters in reverse file order, so reading order must come from it
        spine = "".join(f'<itemref idref="c{i}"/>' for i in reversed(range(len(chapters))))
        if with_opf:
            book.writestr(
                "OEBPS/content.opf",
                '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
                f"<metadata/><manifest>{items}</manifest><spine>{spine}</spine></package>",
            )
        for i, text in enumerate(chapters):
            book.writestr(
                f"OEBPS/text/c{i}.xhtml",
                '<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml"><head>'
                f"<title>t</title><style>p{{color:red}}</style></head><body><h1>第{i}章</h1><p>{text}</p></body></html>",
            )
    return buffer.getvalue()


def test_sniff_kind_by_content_not_name():
    """PDF, EPUB and text are recognised from their bytes; binary junk and plain ZIPs are refused."""
    assert sniff_kind(make_pdf(["x"])) == "pdf"
    assert sniff_kind(make_epub(["x"])) == "epub"
    assert sniff_kind("党员教育读本\n第一章".encode()) == "text"
    assert sniff_kind("党员教育".encode("gb18030")) == "text"
    assert sniff_kind(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR") is None
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.writestr("a.bin", b"\x00\x01")
    assert sniff_kind(plain_zip.getvalue()) is None


def test_read_pdf_text_in_page_order():
    """A generated two-page PDF gives the text of both pages and its page count."""
    result = read_text(make_pdf(["First page about duty", "Second page"]), "pdf")
    assert "First page about duty" in result.text
    assert result.text.index("First") < result.text.index("Second")
    assert result.pages == 2


@pytest.mark.skipif(not CJK_FONT.exists(), reason="no CJK font installed")
def test_read_pdf_chinese_text():
    """Chinese text drawn with a CJK font comes back as Chinese characters."""
    result = extract_text(make_pdf(["加强党员教育管理"], chinese=True), "pdf")
    assert "党员教育" in result.text


def test_read_pdf_page_limit_bounds_output():
    """Only ``max_pages`` pages are read, while the page count reports all of them."""
    result = read_text(make_pdf(["one", "two", "three"]), "pdf", Limits(max_pages=1))
    assert "one" in result.text and "two" not in result.text
    assert result.pages == 3


def test_read_epub_follows_the_spine():
    """EPUB chapters are read in spine order, without markup, styles or titles."""
    result = read_text(make_epub(["党员教育第一课", "second chapter"]), "epub")
    assert "党员教育第一课" in result.text and "second chapter" in result.text
    assert result.text.index("second chapter") < result.text.index("党员教育第一课")
    assert "color" not in result.text and "<p>" not in result.text


def test_read_epub_without_package_document_reads_all_chapters():
    """An EPUB whose OPF is missing still yields the text of its XHTML members."""
    result = read_text(make_epub(["alpha", "beta"], with_opf=False), "epub")
    assert "alpha" in result.text and "beta" in result.text


def test_read_epub_member_over_limit_fails():
    """A chapter larger than the per-member bound (a zip bomb) fails instead of being inflated."""
    data = make_epub(["x" * 5000])
    with pytest.raises(ExtractionError):
        read_text(data, "epub", Limits(max_entry_bytes=1000))


def test_read_epub_entity_declarations_refused():
    """An OPF declaring entities (billion laughs) is refused, never expanded."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as book:
        book.writestr("mimetype", "application/epub+zip")
        book.writestr(
            "META-INF/container.xml",
            '<!DOCTYPE x [<!ENTITY a "aaaa">]><container><rootfiles><rootfile full-path="c.opf"/></rootfiles></container>',
        )
    with pytest.raises(ExtractionError):
        read_text(buffer.getvalue(), "epub")


def test_malformed_pdf_fails_cleanly():
    """A truncated, garbled PDF raises ExtractionError, in process and in the child process."""
    junk = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n" + b"\xff\xfe(" * 200
    with pytest.raises(ExtractionError):
        read_text(junk, "pdf")
    with pytest.raises(ExtractionError):
        extract_text(junk, "pdf")


def test_child_process_timeout_is_an_extraction_error(monkeypatch):
    """A reader that never finishes is killed and reported as too slow."""
    hanging = [sys.executable, "-c", "import time; time.sleep(30)"]
    monkeypatch.setattr(textextract, "_child_command", lambda kind, limits: hanging)
    monkeypatch.setattr(textextract, "_child_timeout", lambda limits: 0.5)
    started = time.monotonic()
    with pytest.raises(ExtractionError, match="too long"):
        extract_text(b"x" * 10, "text")
    assert time.monotonic() - started < 10


def test_child_process_crash_is_an_extraction_error(monkeypatch):
    """A reader that dies (a crash in a parser) is reported, not raised as something else."""
    crashing = [sys.executable, "-c", "import os; os.abort()"]
    monkeypatch.setattr(textextract, "_child_command", lambda kind, limits: crashing)
    with pytest.raises(ExtractionError, match="abnormally"):
        extract_text(b"x", "text")


def test_text_decoding_and_limit():
    """Text files are decoded (UTF-8 or GB 18030) and cut at ``max_chars``."""
    assert read_text("党员教育".encode("gb18030"), "text").text == "党员教育"
    assert read_text(b"abcdef", "text", Limits(max_chars=3)).text == "abc"
    with pytest.raises(ExtractionError):
        read_text(b"\x00\x01binary", "text")

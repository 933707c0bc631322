"""Plain text out of e-library files (PDF, EPUB, plain text), safely.

Files come from uploads, so a file may be malformed or hostile (decompression bombs, deeply
nested objects, loops in a PDF's page tree). Two layers keep the worker safe:

- ``read_text`` (in process) bounds what it reads: at most ``max_pages`` PDF pages, at most
  ``max_chars`` characters of output, at most ``max_entry_bytes`` per EPUB member and a
  deadline checked between pages and chapters; every parser error becomes ``ExtractionError``.
- ``extract_text`` runs ``read_text`` in a **child process** (this file run as a script: no
  Django, only the standard library and ``pypdf``) with a wall-clock timeout and, set by the
  child itself, limits on address space and CPU time. A parser that hangs inside one page, eats
  memory or crashes the interpreter kills only the child; the caller gets ``ExtractionError``.
  Celery's time limits cannot do this for us: the node's worker runs a thread pool
  (``-P threads``), where Celery cannot interrupt a task.

``sniff_kind`` decides the type by content, never by the file name or the browser's word.
"""

from __future__ import annotations

import io
import json
import posixpath
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xml.etree import ElementTree

PDF, EPUB, TEXT = "pdf", "epub", "text"
EPUB_MIMETYPE = b"application/epub+zip"
MAX_EPUB_MEMBERS = 5000
_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article", "blockquote", "pre"}
)
_SKIP_TAGS = frozenset({"script", "style", "head", "title"})


class ExtractionError(Exception):
    """The file could not be read; ``reason`` is a short sentence for the operator."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    """Bounds of one extraction (see the module docstring)."""

    max_chars: int = 1_000_000
    max_pages: int = 2000
    max_entry_bytes: int = 20 * 1024 * 1024
    seconds: float = 60.0
    memory_bytes: int = 1024 * 1024 * 1024


@dataclass(frozen=True)
class Extracted:
    text: str
    pages: int | None


# --- type by content --------------------------------------------------------------------------


def _is_epub(data: bytes) -> bool:
    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist()[:MAX_EPUB_MEMBERS])
            if "mimetype" in names:
                info = archive.getinfo("mimetype")
                if info.file_size <= 64:
                    return archive.read("mimetype").strip() == EPUB_MIMETYPE
            return "META-INF/container.xml" in names
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, RuntimeError):
        return False


def _decode_text(data: bytes) -> str | None:
    """The text of ``data`` (UTF-8, with or without BOM, else GB 18030), or None when it is not
    text: a NUL byte or many control characters mean a binary file."""
    if b"\x00" in data:
        return None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        sample = text[:20000]
        controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\n\r\t\f")
        return text if controls <= len(sample) // 100 else None
    return None


def sniff_kind(data: bytes) -> str | None:
    """``"pdf"``, ``"epub"``, ``"text"`` or None (refused) for a whole file's bytes, by content:
    a PDF header in the first KiB, a ZIP whose ``mimetype`` is EPUB's (or which has an OPF
    container), or text that decodes as UTF-8 or GB 18030 without binary bytes."""
    if b"%PDF-" in data[:1024]:
        return PDF
    if _is_epub(data):
        return EPUB
    if _decode_text(data) is not None:
        return TEXT
    return None


# --- in-process readers -----------------------------------------------------------------------


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise ExtractionError("reading the file took too long")


def _read_pdf(data: bytes, limits: Limits, deadline: _Deadline) -> Extracted:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        try:
            reader.decrypt("")  # many "protected" PDFs have an empty user password
        except Exception:
            raise ExtractionError("the PDF is encrypted") from None
    total = len(reader.pages)
    parts: list[str] = []
    size = 0
    for index in range(min(total, limits.max_pages)):
        deadline.check()
        text = reader.pages[index].extract_text() or ""
        parts.append(text)
        size += len(text)
        if size >= limits.max_chars:
            break
    return Extracted("\n".join(parts)[: limits.max_chars], total)


class _XHTMLText(HTMLParser):
    """Text of an XHTML chapter: tags dropped, block elements become line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS and self._skip:
            self._skip -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self.parts).splitlines())
        return "\n".join(line for line in lines if line)


def _member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """A member's bytes, read with a bound (the declared size of a ZIP entry may lie)."""
    with archive.open(name) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ExtractionError(f"an EPUB member ({name[:80]}) is larger than allowed")
    return data


def _xml(data: bytes) -> ElementTree.Element:
    from xml.etree import ElementTree  # imported on use (EPUB only), not at start (bench B12)

    if b"<!DOCTYPE" in data[:2048].upper() or b"<!ENTITY" in data.upper():
        raise ExtractionError("EPUB package documents must not declare entities")
    return ElementTree.fromstring(data)  # noqa: S314 - entity declarations refused above


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _spine(archive: zipfile.ZipFile, names: list[str], limits: Limits) -> list[str]:
    """Chapter member names in reading order: the OPF spine, else every (X)HTML member."""
    from xml.etree import ElementTree

    try:
        container = _xml(_member(archive, "META-INF/container.xml", limits.max_entry_bytes))
        rootfile = next(el.get("full-path") for el in container.iter() if _local(el.tag) == "rootfile")
        if not rootfile:
            raise StopIteration
        opf = _xml(_member(archive, rootfile, limits.max_entry_bytes))
    except (KeyError, StopIteration, ElementTree.ParseError):
        return sorted(n for n in names if n.lower().endswith((".xhtml", ".html", ".htm")))
    base = posixpath.dirname(rootfile)
    manifest = {
        el.get("id"): posixpath.normpath(posixpath.join(base, el.get("href") or ""))
        for el in opf.iter()
        if _local(el.tag) == "item"
    }
    order = [manifest.get(el.get("idref")) for el in opf.iter() if _local(el.tag) == "itemref"]
    return [name for name in order if name and name in names]


def _read_epub(data: bytes, limits: Limits, deadline: _Deadline) -> Extracted:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ExtractionError("the EPUB is not a readable ZIP archive") from None
    with archive:
        names = archive.namelist()
        if len(names) > MAX_EPUB_MEMBERS:
            raise ExtractionError("the EPUB has too many members")
        chapters = _spine(archive, names, limits)
        parts: list[str] = []
        size = 0
        for name in chapters:
            deadline.check()
            parser = _XHTMLText()
            parser.feed(_member(archive, name, limits.max_entry_bytes).decode("utf-8", errors="replace"))
            parser.close()
            text = parser.text()
            parts.append(text)
            size += len(text)
            if size >= limits.max_chars:
                break
    return Extracted("\n\n".join(parts)[: limits.max_chars], len(chapters))


def read_text(data: bytes, kind: str, limits: Limits | None = None) -> Extracted:
    """The plain text of a file of ``kind``, in this process, within ``limits`` (no protection
    against a parser stuck inside one page: use ``extract_text`` for untrusted files).
    Raises only ``ExtractionError``."""
    limits = limits or Limits()
    deadline = _Deadline(limits.seconds)
    try:
        if kind == PDF:
            return _read_pdf(data, limits, deadline)
        if kind == EPUB:
            return _read_epub(data, limits, deadline)
        if kind == TEXT:
            text = _decode_text(data)
            if text is None:
                raise ExtractionError("the file is not text")
            return Extracted(text[: limits.max_chars], None)
        raise ExtractionError(f"unknown document kind {kind!r}")
    except ExtractionError:
        raise
    except RecursionError:
        raise ExtractionError("the file is nested too deeply") from None
    except MemoryError:
        raise ExtractionError("the file needs too much memory") from None
    except Exception as exc:  # a parser's error on hostile input is a failed file, never a crash
        raise ExtractionError(f"unreadable {kind} ({type(exc).__name__})") from None


# --- the child process ------------------------------------------------------------------------


def _child_command(kind: str, limits: Limits) -> list[str]:
    """The child's command line: this interpreter, isolated (``-I``: neither this package's
    directory nor the environment can shadow a module), running this file."""
    return [sys.executable, "-I", str(Path(__file__).resolve()), kind, json.dumps(limits.__dict__)]


def _child_timeout(limits: Limits) -> float:
    """Wall-clock seconds the child gets: the reading budget plus interpreter start-up."""
    return limits.seconds + 15


def extract_text(data: bytes, kind: str, limits: Limits | None = None) -> Extracted:
    """The plain text of an untrusted file, read by a child process killed after
    ``limits.seconds`` (plus start-up) and limited in memory and CPU. Raises only
    ``ExtractionError`` (bad file, timeout, crash of the child)."""
    limits = limits or Limits()
    try:
        done = subprocess.run(  # our own interpreter and script, no shell
            _child_command(kind, limits), input=data, capture_output=True, timeout=_child_timeout(limits), check=False
        )
    except subprocess.TimeoutExpired:
        raise ExtractionError("reading the file took too long") from None
    except OSError as exc:
        raise ExtractionError(f"the reader could not start ({exc.__class__.__name__})") from None
    try:
        answer = json.loads(done.stdout.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ExtractionError(f"the reader stopped abnormally (exit status {done.returncode})") from None
    if not isinstance(answer, dict) or not answer.get("ok"):
        reason = answer.get("error") if isinstance(answer, dict) else None
        raise ExtractionError(str(reason or "the reader failed")[:300])
    return Extracted(str(answer.get("text", "")), answer.get("pages"))


def _limit_self(limits: Limits) -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        cpu = int(limits.seconds) + 5
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    except (ImportError, ValueError, OSError):  # not POSIX, or limits already lower
        pass


def _child_main(argv: list[str]) -> int:
    kind = argv[1]
    limits = Limits(**json.loads(argv[2])) if len(argv) > 2 else Limits()
    _limit_self(limits)
    sys.setrecursionlimit(5000)
    data = sys.stdin.buffer.read()
    try:
        result = read_text(data, kind, limits)
        answer: dict[str, Any] = {"ok": True, "text": result.text, "pages": result.pages}
    except ExtractionError as exc:
        answer = {"ok": False, "error": exc.reason}
    sys.stdout.buffer.write(json.dumps(answer).encode("ascii"))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv))

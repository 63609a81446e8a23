"""The documentation refers only to files the repository holds.

A relative link in the front page or a documentation page must name a file (or folder) of the
checkout, and its anchor, if any, a heading of that file; ``docs/README.md`` lists every page of
``docs/``. No tracked text file may point to the notes that lived outside the repository while it
was written (a sibling ``shared`` folder and the two upper-case notes files): a reader of a clone
has neither.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Spelled in pieces so that this file does not match its own check.
FORBIDDEN = ("../" + "shared", "METHOD" + ".md", "STACK" + ".md")

# Inline links and images, `[text](target)`, and reference definitions, `[label]: target`.
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
FENCE = re.compile(r"^\s*(```|~~~)")


def doc_pages() -> list[Path]:
    pages = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", ROOT / "conf" / "README.md"]
    pages += sorted((ROOT / "docs").glob("*.md"))
    return pages


def without_code(text: str) -> str:
    """The text with fenced code blocks and inline code spans blanked (they hold no links)."""
    lines, in_fence = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            lines.append("")
            continue
        lines.append("" if in_fence else re.sub(r"`[^`]*`", "", line))
    return "\n".join(lines)


def links(text: str) -> list[str]:
    prose = without_code(text)
    return INLINE_LINK.findall(prose) + REFERENCE_DEFINITION.findall(prose)


def is_relative(target: str) -> bool:
    return not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", target) and not target.startswith("//")


def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for line in without_code(text).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def test_the_pages_checked_exist():
    assert all(page.is_file() for page in doc_pages())
    assert len(doc_pages()) > 3


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_name_files_of_the_repository(page: Path):
    missing = []
    for target in links(page.read_text(encoding="utf-8")):
        path = target.split("#", 1)[0]
        if not is_relative(target) or not path:
            continue
        resolved = (page.parent / path).resolve()
        if not resolved.exists() or not resolved.is_relative_to(ROOT):
            missing.append(target)
    assert not missing, f"{page.relative_to(ROOT)} links to files it does not contain: {missing}"


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_link_anchors_name_headings(page: Path):
    broken = []
    for target in links(page.read_text(encoding="utf-8")):
        if not is_relative(target) or "#" not in target:
            continue
        path, anchor = target.split("#", 1)
        linked = (page.parent / path).resolve() if path else page
        if linked.suffix != ".md" or not linked.is_file():
            continue  # a missing file is the other test's failure
        if anchor not in heading_anchors(linked.read_text(encoding="utf-8")):
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)} links to headings that do not exist: {broken}"


def test_every_docs_page_is_listed_in_the_index():
    index = ROOT / "docs" / "README.md"
    listed = {
        (index.parent / target.split("#", 1)[0]).resolve() for target in links(index.read_text())
    }
    unlisted = [
        page.name
        for page in sorted((ROOT / "docs").glob("*.md"))
        if page != index and page not in listed
    ]
    assert not unlisted, f"docs/README.md does not link these pages: {unlisted}"


def tracked_text_files() -> list[Path]:
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files are unknown")
    paths = [ROOT / name for name in listing.decode().split("\0") if name]
    text_files = []
    for path in paths:
        if not path.is_file():
            continue  # deleted in the working tree, not yet committed
        head = path.read_bytes()[:8192]
        if b"\0" not in head:
            text_files.append(path)
    return text_files


def test_no_file_points_outside_the_repository():
    offenders = []
    for path in tracked_text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            offenders += [
                f"{path.relative_to(ROOT)}:{number}: {word}" for word in FORBIDDEN if word in line
            ]
    assert not offenders, "references to files the repository does not hold:\n" + "\n".join(
        offenders
    )

"""The documentation's relative links resolve (file and anchor), and README.md reaches every page of docs/."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "egs").glob("*/README.md"),
                ROOT / "benchmarks" / "README.md"])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code removed (neither holds links or headings)."""
    lines, in_fence = [], False
    for line in text.splitlines():
        if FENCE.match(line.lstrip()):
            in_fence = not in_fence
        elif not in_fence:
            lines.append(re.sub(r"`[^`]*`", lambda m: m.group(0).strip("`"), line))
    return lines


def anchors(page: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation other than - and _ dropped, spaces to -, -1, -2 for repeats."""
    seen: dict[str, int] = {}
    ids = set()
    for line in prose_lines(page.read_text(encoding="utf-8")):
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", m.group(1))  # a link in a heading counts as its text
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        ids.add(slug if n == 0 else f"{slug}-{n}")
    return ids


def relative_links(page: Path) -> list[str]:
    """Targets of the page's links that point into the repository (not URLs, not mail)."""
    targets = [t for line in prose_lines(page.read_text(encoding="utf-8")) for t in LINK.findall(line)]
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading with that anchor in {dest.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_readme_links_every_docs_page() -> None:
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in relative_links(ROOT / "README.md")}
    unlinked = [p.name for p in sorted((ROOT / "docs").glob("*.md")) if p.resolve() not in linked]
    assert not unlinked, f"docs pages that README.md does not link: {unlinked}"


def test_readme_stays_short() -> None:
    size = len((ROOT / "README.md").read_bytes())
    assert size < 15_000, f"README.md is {size} bytes; move detail to docs/ and link it"


def test_anchor_rule_matches_github() -> None:
    page = ROOT / "benchmarks" / "README.md"
    assert "running-against-a-finished-egsmini_cmn-run" in anchors(page)
    assert "server-bench_serverpy" in anchors(page)

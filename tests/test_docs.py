"""The repository stands on its own: nothing points at documents it does not contain.

Code, tests, docs, the README, the config example, the Dockerfile and the scripts may cite
the project's own ``docs/*.md`` and upstream sources (a project and its file, a spec
section, an MSC), never design notes kept elsewhere, section numbers of documents that are
not here, or tracker issue numbers. Every ``docs/….md`` they mention must exist.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"}
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".sh", ".cfg", ".ini", ".txt", ".html"}
NAMES = {"Dockerfile", "run"}
SELF = Path(__file__).resolve()

# Each pattern names a kind of reference a reader of this repository cannot follow.
FORBIDDEN: dict[str, re.Pattern[str]] = {
    "a folder beside the repository": re.compile(r"\.\./shared|/work/|\bshared/docs\b"),
    "a design or protocol note kept elsewhere": re.compile(
        r"design\.md|rocketchat-api\.md|synapse-federation\.md|house-style"
    ),
    "a tracker issue number": re.compile(r"\b[Ii]ssues? #?\d+"),
    # Statutes keep their section signs (11 CCR §7101, CCPA §1798.105); nothing else has
    # numbered sections a reader could look up here.
    "a section number of a document not here": re.compile(r"(?<!CCR )(?<!CCPA )§"),
    "an item number of a list not here": re.compile(r"\(G\d{1,2}\b|\bG\d{1,2}\)"),
}
DOC_PATH = re.compile(r"(?<![\w/.-])docs/[\w./-]+?\.md\b")
MD_LINK = re.compile(r"\]\(([^)\s]+)\)")


def project_files() -> list[Path]:
    found = []
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts):
            continue
        if path.is_file() and (path.suffix in SUFFIXES or path.name in NAMES):
            found.append(path)
    return sorted(found)


def offending_references(files: list[Path], root: Path = ROOT) -> list[str]:
    problems = []
    for path in files:
        if path.resolve() == SELF:
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for what, pattern in FORBIDDEN.items():
                if pattern.search(line):
                    rel = path.relative_to(root)
                    problems.append(f"{rel}:{number}: {what}: {line.strip()[:120]}")
    return problems


def test_project_files_are_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in project_files()}
    for expected in ("README.md", "Dockerfile", "config.example.yaml", "bridge/app.py"):
        assert expected in names


def test_no_reference_points_outside_the_repository() -> None:
    problems = offending_references(project_files())
    assert not problems, "references a clone cannot follow:\n" + "\n".join(problems)


def test_the_check_recognises_each_kind_of_reference(tmp_path: Path) -> None:
    samples = {
        "a.py": "# see ../shared/docs/x\n",
        "b.md": "as design.md says\n",
        "c.py": "# fixed in issue 10\n",
        "d.py": '"""Rules (§4)."""\n',
        "e.py": "# Synapse reuses ids (G5).\n",
    }
    files = []
    for name, text in samples.items():
        (tmp_path / name).write_text(text)
        files.append(tmp_path / name)
    assert len(offending_references(files, tmp_path)) == len(samples)
    (tmp_path / "ok.md").write_text("Kept 24 months (11 CCR §7101); MSC1929.\n")
    assert offending_references([tmp_path / "ok.md"], tmp_path) == []


def test_every_docs_page_mentioned_exists() -> None:
    missing = []
    for path in project_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for match in DOC_PATH.finditer(line):
                if not (ROOT / match.group(0)).is_file():
                    missing.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)}")
    assert not missing, "docs pages that do not exist:\n" + "\n".join(missing)


def test_the_readme_first_link_stays_inside_the_repository() -> None:
    links = MD_LINK.findall((ROOT / "README.md").read_text())
    assert links, "the README links to its documentation"
    first = links[0]
    assert not re.match(r"[a-z]+:|/|\.\.", first), first
    assert (ROOT / first.split("#")[0]).is_file(), first


def test_the_project_documents_exist() -> None:
    for page in ("architecture", "operations", "rocketchat-notes", "synapse-notes"):
        text = (ROOT / "docs" / f"{page}.md").read_text()
        assert text.startswith("# "), page

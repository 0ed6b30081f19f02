"""The teaching material the Course page points to: the guided course and the notebooks.

Both live in the project beside the app: ``course/`` (the guided course: ``README.md``
and one notebook per lesson) and ``notebooks/`` (one papermill notebook per paper).
These functions find them, read their titles, and make their READMEs fit for showing
inside the app; nothing else.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
COURSE, NOTEBOOKS = "course", "notebooks"
# A markdown link to a file beside the README, e.g. [Lesson 1](01_heart.ipynb): it
# cannot be followed inside the app, so only its text is kept.
RELATIVE_LINK = re.compile(r"\[([^\]]+)\]\((?![a-z]+://|#)[^)]*\)")


@dataclass
class Notebook:
    path: Path
    title: str  # the first heading of its first markdown cell, else the file name


def readme(folder: str, root: Path = PROJECT_ROOT) -> str | None:
    """``<folder>/README.md`` with its relative links reduced to their text, or None."""
    path = Path(root) / folder / "README.md"
    return RELATIVE_LINK.sub(r"\1", path.read_text()) if path.is_file() else None


def notebook_title(path: Path) -> str:
    """First markdown heading of a notebook (``# Title``), else its file stem."""
    try:
        cells = json.loads(Path(path).read_text()).get("cells", [])
    except (OSError, ValueError):
        return Path(path).stem
    for cell in cells:
        if cell.get("cell_type") != "markdown":
            continue
        source = "".join(cell.get("source", []))
        for line in source.splitlines():
            if line.startswith("#"):
                return line.lstrip("#").strip()
    return Path(path).stem


def notebooks(folder: str, root: Path = PROJECT_ROOT) -> list[Notebook]:
    """Every ``<folder>/*.ipynb``, sorted by name, with its title."""
    return [Notebook(path=path, title=notebook_title(path)) for path in sorted((Path(root) / folder).glob("*.ipynb"))]

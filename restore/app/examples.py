"""The app's example pictures: public-domain paintings and CC0 photos that ship in ``restore/app/examples``.

``MANIFEST.tsv`` beside them gives each file's role (style, content, upscale), its source in the shared
data, author, title and licence; ``scripts/make_app_examples.py`` regenerates them.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EXAMPLES_DIR", "Example", "examples"]

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"


@dataclass(frozen=True)
class Example:
    path: Path
    role: str  # "style", "content" or "upscale"
    caption: str  # what the gallery shows under the thumbnail


def examples(role: str) -> list[Example]:
    """The examples of one role, in MANIFEST order; none when the folder is absent."""
    manifest = EXAMPLES_DIR / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    with manifest.open(newline="", encoding="utf-8") as stream:
        rows = [row for row in csv.DictReader(stream, delimiter="\t") if row["role"] == role]
    found = []
    for row in rows:
        caption = f"{row['author']}, {row['title']}" if row["author"] else row["title"]
        found.append(Example(EXAMPLES_DIR / row["file"], role, caption))
    return [example for example in found if example.path.is_file()]

"""Regenerate restore/app/examples/ (the app's example paintings and photos) from the shared data.

Usage: .venv/bin/python scripts/make_app_examples.py [DATA_ROOT]

Only rows the shared MANIFESTs mark public domain (paintings: pd_judgement "yes") or CC0 / public domain
(photos) are taken. Each is area-downscaled to fit LONG_SIDE and written as JPEG q85 (the upscale example:
a small PNG, so the model sees no new JPEG artefacts); MANIFEST.tsv beside them gives each file's source,
its sha256 in the shared data, the author, the title and the licence.
"""
from __future__ import annotations

import csv
import hashlib
import io
import sys
from pathlib import Path

from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from restore.paths import data_root  # noqa: E402  (needs the path above when run as a script)

OUTPUT = REPO_ROOT / "restore" / "app" / "examples"
LONG_SIDE = 384
UPSCALE_LONG_SIDE = 160
PAINTINGS = [  # style/style/<file>: (our name)
    ("029_claude-monet__impression-sunrise-1882.jpg", "monet_impression_sunrise.jpg"),
    ("125_katsushika-hokusai__the-great-wave-off-kanagawa-c-1831.jpg", "hokusai_great_wave.jpg"),
    ("247_vincent-van-gogh__starry-night-over-the-rhone-1888.jpg", "van_gogh_starry_night_over_the_rhone.jpg"),
    ("067_gustav-klimt__the-kiss-1908.jpg", "klimt_the_kiss.jpg"),
    ("048_edvard-munch__madonna-1894.jpg", "munch_madonna.jpg"),
]
PHOTOS = [  # train/photos/<file>: (our name)
    ("budgie_kitten-on-lawn.jpg", "photo_kitten.jpg"),
    ("budgie_roman-colosseum.jpg", "photo_colosseum.jpg"),
    ("budgie_lake-sherburne.jpg", "photo_lake.jpg"),
]
UPSCALE = ("budgie_perched-osprey.jpg", "small_osprey.png")
COLUMNS = ["file", "role", "bytes", "sha256", "source", "source_sha256", "author", "title", "licence", "processing"]


def _manifest(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return {Path(row["path"]).name: row for row in csv.DictReader(stream, delimiter="\t")}


def _shrunk(path: Path, long_side: int) -> Image.Image:
    image = Image.open(path).convert("RGB")
    factor = long_side / max(image.size)
    size = (round(image.width * factor), round(image.height * factor))
    return image.resize(size, Image.Resampling.BOX) if factor < 1 else image


def _write(image: Image.Image, name: str) -> bytes:
    buffer = io.BytesIO()
    if name.endswith(".png"):
        image.save(buffer, format="PNG", optimize=True)
    else:
        image.save(buffer, format="JPEG", quality=85, optimize=True)
    data = buffer.getvalue()
    (OUTPUT / name).write_bytes(data)
    return data


def main() -> int:
    root = data_root(sys.argv[1] if len(sys.argv) > 1 else None)
    paintings = _manifest(root / "style" / "style" / "MANIFEST.tsv")
    photos = _manifest(root / "train" / "photos" / "MANIFEST.tsv")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for source, name in PAINTINGS:
        row = paintings[source]
        if row["pd_judgement"] != "yes":
            raise SystemExit(f"{source}: not marked public domain in the MANIFEST")
        data = _write(_shrunk(root / "style" / "style" / source, LONG_SIDE), name)
        rows.append([name, "style", len(data), hashlib.sha256(data).hexdigest(), f"style/style/{source}",
                     row["sha256"], row["artist"], row["title"], "public domain (MANIFEST pd_judgement: yes)",
                     f"area-downscaled to long side {LONG_SIDE}, JPEG q85"])
    for (source, name), role, side in [*[(photo, "content", LONG_SIDE) for photo in PHOTOS],
                                       (UPSCALE, "upscale", UPSCALE_LONG_SIDE)]:
        row = photos[source]
        if not row["licence"].startswith(("CC0", "Public domain")):
            raise SystemExit(f"{source}: licence {row['licence']!r} is not CC0 or public domain")
        data = _write(_shrunk(root / "train" / "photos" / source, side), name)
        kind = "PNG" if name.endswith(".png") else "JPEG q85"
        rows.append([name, role, len(data), hashlib.sha256(data).hexdigest(), f"train/photos/{source}",
                     row["sha256"], "", Path(source).stem.removeprefix("budgie_").replace("-", " "), row["licence"],
                     f"area-downscaled to long side {side}, {kind}"])
    with (OUTPUT / "MANIFEST.tsv").open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, delimiter="\t", lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    total = sum(int(row[2]) for row in rows)
    print(f"{len(rows)} examples, {total:,} bytes in {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

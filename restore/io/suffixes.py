"""The image file vocabulary, declared once: which suffixes are images, how each is written, what an output is named.

No imports, so the CLI, the app and the training data scan can all read it without loading an image library.
"""
from __future__ import annotations

__all__ = ["FORMATS", "IMAGE_SUFFIXES", "OUTPUT_SUFFIX"]

# file suffix -> format name used by restore.io.picture.save()
FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp", ".tif": "tiff", ".tiff": "tiff"}
# format name -> the suffix an output written in that format gets
OUTPUT_SUFFIX = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "tiff": ".tif"}
# What a folder scan, an upload field or a training set takes as an image: every writable format plus the
# ones Pillow only reads (an output of those is written as PNG).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")

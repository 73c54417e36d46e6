"""Reading and writing images on disk.

``read_image`` / ``write_image``: 8-bit RGB or grey arrays, for evaluation. ``load`` / ``save``:
full-fidelity :class:`Picture` (16-bit, alpha, EXIF, ICC), for the upscaling engine and CLI.
"""
from restore.io.image import read_image, write_image
from restore.io.picture import DEFAULT_MAX_PIXELS, Picture, header_size, load, save

__all__ = ["DEFAULT_MAX_PIXELS", "Picture", "header_size", "load", "read_image", "save", "write_image"]

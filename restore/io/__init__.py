"""Reading and writing images on disk."""
from restore.io.image import read_image, write_image

__all__ = ["read_image", "write_image"]

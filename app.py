"""Serve the restore web app: ``python app.py [--port N ...]`` is ``restore app [--port N ...]`` (one parser;
see docs/app.md)."""
import sys

from restore.cli import main

if __name__ == "__main__":
    sys.exit(main(["app", *sys.argv[1:]]))

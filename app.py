"""Serve the restore web app: ``python app.py`` (same as ``restore app``; see docs/app.md)."""
from restore.app import AppConfig, launch

if __name__ == "__main__":
    launch(AppConfig.from_env())

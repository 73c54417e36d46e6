"""Serve the restore web app: ``python app.py`` (same as ``restore app``; see docs/app.md)."""
from restore.app import AppConfig, launch

if __name__ == "__main__":
    print("restore app: serving on http://127.0.0.1:7860 (Ctrl+C stops it)")
    launch(AppConfig.from_env(), quiet=True)

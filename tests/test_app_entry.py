"""``python app.py`` takes ``restore app``'s flags, honours Gradio's address variables when no flag is
given, and prints the URL it really serves (issue 18, item 1)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from restore.cli.app import DEFAULT_HOST, DEFAULT_PORT, resolve_address
from restore.errors import RestoreError
from restore.paths import REPO_ROOT
from loopback import free_port

# A loaded two-core machine imports gradio and torch and builds the page before it serves.
START_SECONDS = 240


def test_flags_win_over_gradio_variables_which_win_over_defaults() -> None:
    variables = {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "9001"}
    assert resolve_address(None, None, {}) == (DEFAULT_HOST, DEFAULT_PORT)
    assert resolve_address(None, None, variables) == ("0.0.0.0", 9001)
    assert resolve_address("127.0.0.1", 8000, variables) == ("127.0.0.1", 8000)
    with pytest.raises(RestoreError, match="GRADIO_SERVER_PORT='http' is not a port number"):
        resolve_address(None, None, {"GRADIO_SERVER_PORT": "http"})
    with pytest.raises(RestoreError, match="out of range"):
        resolve_address(None, 70000, {})


def _serve(arguments: list[str], environment: dict[str, str], tmp_path: Path) -> str:
    """Start ``python app.py ARGUMENTS``, return the URL it prints once it answers there, then stop it."""
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TMPDIR": str(tmp_path), **environment}
    process = subprocess.Popen([sys.executable, str(REPO_ROOT / "app.py"), *arguments, "--device", "cpu"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment,
                               cwd=tmp_path)
    try:
        seen = []
        for line in process.stdout:
            seen.append(line)
            found = re.search(r"serving on (http://\S+)", line)
            if found:
                url = found.group(1)
                with urllib.request.urlopen(url, timeout=60) as response:
                    assert response.status == 200
                return url
        raise AssertionError("app.py exited without serving:\n" + "".join(seen))
    finally:
        process.terminate()
        process.wait(timeout=60)


@pytest.mark.slow
def test_app_py_serves_on_the_port_it_was_given_and_says_so(tmp_path: Path) -> None:
    # The variable is set too: the flag wins (resolve_address's test covers the variable alone).
    from_flag, from_variable = free_port(), free_port()
    url = _serve(["--port", str(from_flag)], {"GRADIO_SERVER_PORT": str(from_variable)}, tmp_path)
    assert url.startswith(f"http://127.0.0.1:{from_flag}")

"""`restore upscale` never writes outside -o, and one bad name, a full log disk or SIGTERM never costs the batch."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from restore.cli import main
from restore.engine.batch import upscale_paths
from restore.io import save
from restore.io.atomic import TEMP_PREFIX, remove_stale_temp_files
from restore.paths import REPO_ROOT

BICUBIC_X2 = ["--model", "bicubic", "--scale", "2", "-q"]


def tiny(path: Path, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return save(path, np.full((4, 4, 3), value, np.uint8))


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_glob_with_dotdot_cannot_write_or_replace_outside_the_output_folder(tmp_path: Path, capsys) -> None:
    tiny(tmp_path / "src" / "x" / "a.png")
    tiny(tmp_path / "victim" / "a.png", value=3)
    out = tmp_path / "deep" / "out"
    # Textually, out/x/../../victim/a.png is deep/victim/a.png: beside -o, not in it.
    victim = tiny(tmp_path / "deep" / "victim" / "a.png", value=7)
    before = victim.read_bytes()
    pattern = str(tmp_path / "src" / "*" / ".." / ".." / "victim" / "a.png")
    for extra in ([], ["--overwrite"]):
        assert main(["upscale", pattern, "-o", str(out), *BICUBIC_X2, *extra]) == 0
    assert victim.read_bytes() == before
    assert files_under(tmp_path / "deep") == ["out/a.png", "victim/a.png"]  # the result: its own name, inside -o


def test_symlink_inside_the_output_folder_cannot_lead_an_output_outside(tmp_path: Path, capsys) -> None:
    tiny(tmp_path / "in" / "sub" / "a.png")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(elsewhere, target_is_directory=True)
    assert main(["upscale", str(tmp_path / "in"), "-o", str(out), *BICUBIC_X2]) == 1
    assert "would land outside the output folder" in capsys.readouterr().err
    assert list(elsewhere.iterdir()) == []


def test_one_over_long_output_name_fails_alone(tmp_path: Path, capsys) -> None:
    source = tmp_path / "in"
    tiny(source / ("n" * 245 + ".png"))
    tiny(source / "short.png")
    out = tmp_path / "out"
    assert main(["upscale", str(source), "-o", str(out), "--suffix", "_upscaled_x2", *BICUBIC_X2]) == 1
    err = capsys.readouterr().err
    assert "longer than the 255 the file system allows" in err and "Traceback" not in err
    assert files_under(out) == ["short_upscaled_x2.png"]


class _FullDisk:
    """A log stream whose every write fails like a full disk."""

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    def close(self) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_log_on_a_full_disk_warns_once_and_every_image_is_written(tmp_path: Path, monkeypatch, capsys) -> None:
    import builtins

    source = tmp_path / "in"
    for name in ("a", "b", "c"):
        tiny(source / f"{name}.png")
    log_path = tmp_path / "log.jsonl"
    real_open = builtins.open

    def open_log_on_full_disk(file, *args, **kwargs):
        return _FullDisk() if str(file) == str(log_path) else real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", open_log_on_full_disk)
    assert main(["upscale", str(source), "-o", str(tmp_path / "out"), "--log", str(log_path), *BICUBIC_X2]) == 0
    err = capsys.readouterr().err
    assert err.count("No space left on device") == 1 and "the images go on" in err
    assert files_under(tmp_path / "out") == ["a.png", "b.png", "c.png"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_log_on_dev_full_does_not_abort_the_batch(tmp_path: Path, capsys) -> None:
    source = tmp_path / "in"
    tiny(source / "a.png")
    tiny(source / "b.png")
    assert main(["upscale", str(source), "-o", str(tmp_path / "out"), "--log", "/dev/full", *BICUBIC_X2]) == 0
    assert files_under(tmp_path / "out") == ["a.png", "b.png"]


def test_log_still_records_every_item_when_the_disk_has_room(tmp_path: Path) -> None:
    source = tmp_path / "in"
    tiny(source / "a.png")
    log_path = tmp_path / "log.jsonl"
    assert main(["upscale", str(source), "-o", str(tmp_path / "out"), "--log", str(log_path), *BICUBIC_X2]) == 0
    assert [json.loads(line)["status"] for line in log_path.read_text().splitlines()] == ["ok"]


_SLOW_ENCODE_DRIVER = """
import sys, time
import restore.io.picture as picture
flag = sys.argv[1]

def stalled_encode(stream, *args, **kwargs):
    stream.write(b"\\x89PNG half of a file")
    stream.flush()
    open(flag, "w").close()
    time.sleep(60)

picture._encode = stalled_encode
from restore.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_sigterm_during_encoding_exits_with_a_message_and_leaves_no_temp_file(tmp_path: Path) -> None:
    source = tmp_path / "in"
    tiny(source / "a.png")
    out = tmp_path / "out"
    flag = tmp_path / "encoding"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", _SLOW_ENCODE_DRIVER, str(flag), "upscale", str(source), "-o", str(out),
         "--workers", "0", *BICUBIC_X2],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while not flag.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the batch never reached the encoder"
            time.sleep(0.05)
        assert [p.name for p in out.iterdir() if p.name.startswith(TEMP_PREFIX)]  # mid-write: the temp exists
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143
    assert "restore upscale: terminated (SIGTERM)" in err and "Traceback" not in err
    assert list(out.iterdir()) == []


def test_rerun_removes_its_own_stale_temp_files_only(tmp_path: Path) -> None:
    source = tmp_path / "in"
    tiny(source / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    dead = out / f"{TEMP_PREFIX}{dead_pid}-abc.png"
    dead.write_bytes(b"half")
    live = out / f"{TEMP_PREFIX}{os.getppid()}-def.png"  # the process that started pytest is alive
    live.write_bytes(b"being written")
    old_unowned = out / f"{TEMP_PREFIX}oldstyle.png"
    old_unowned.write_bytes(b"half")
    os.utime(old_unowned, (time.time() - 7200, time.time() - 7200))
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"keep")
    link = out / f"{TEMP_PREFIX}{dead_pid}-link.png"
    link.symlink_to(victim)
    other = out / "notes.txt"
    other.write_text("keep")
    assert main(["upscale", str(source), "-o", str(out), *BICUBIC_X2]) == 0
    assert not dead.exists() and not old_unowned.exists()
    assert live.exists() and link.is_symlink() and victim.read_bytes() == b"keep" and other.exists()
    assert remove_stale_temp_files(out) == []


def test_output_folder_inside_the_input_folder_is_not_read_back(tmp_path: Path, capsys) -> None:
    source = tmp_path / "in"
    tiny(source / "a.png")
    tiny(source / "sub" / "b.png")
    out = source / "out"
    for run in range(2):
        assert main(["upscale", str(source), "-o", str(out), *BICUBIC_X2]) == 0, capsys.readouterr().err
    assert files_under(out) == ["a.png", "sub/b.png"]
    assert main(["upscale", str(source / "**" / "*.png"), "-o", str(out), *BICUBIC_X2, "--overwrite"]) == 0
    assert files_under(out) == ["a.png", "sub/b.png"]
    assert "out/out" not in capsys.readouterr().out


def test_upscale_paths_plan_names_the_problem_per_item(tmp_path: Path) -> None:
    class Doubler:
        def upscale_array(self, pixels: np.ndarray) -> np.ndarray:
            return np.repeat(np.repeat(pixels, 2, axis=0), 2, axis=1)

    tiny(tmp_path / "src" / "x" / "a.png")
    tiny(tmp_path / "victim" / "b.png")
    summary = upscale_paths([str(tmp_path / "src" / "*" / ".." / ".." / "victim" / "b.png")], tmp_path / "out",
                            Doubler(), progress=False, workers=0)
    assert summary.done == 1 and summary.results[0].output == tmp_path / "out" / "b.png"

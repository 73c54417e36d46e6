"""The web app under attack, driven over HTTP with gradio_client against a real server on 127.0.0.1.

No server file reaches a client through the upload fields, result folders cannot be guessed, the
clean-up deletes only its own job folders, one request's work is bounded, and errors stay on the page.
"""
from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from restore.app import AppConfig, launch
from restore.app.jobs import JOB_MARKER, new_job_folder, prepare_output_root
from restore.errors import RestoreError
from restore.io import load, save
from loopback import free_port

PIXEL_LIMIT = 4096
WORK_LIMIT = 10_000  # a 12x10 image at x4 is 1,920 output pixels; with the 8-pass ensemble 15,360
JOB_NAME = re.compile(r"job-[0-9a-f]{32}")
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, AppConfig]]:
    config = AppConfig(max_pixels=PIXEL_LIMIT, max_work=WORK_LIMIT, output_dir=tmp_path_factory.mktemp("base") / "out",
                       device="cpu")
    demo = launch(config, port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield demo, config
    finally:
        demo.close()


@pytest.fixture(scope="module")
def client(server: tuple[object, AppConfig], tmp_path_factory: pytest.TempPathFactory) -> object:
    from gradio_client import Client

    return Client(server[0].local_url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


@pytest.fixture(scope="module")
def attacker(server: tuple[object, AppConfig]) -> object:
    """A gradio_client that sends file objects as they are, naming server paths, instead of uploading them."""
    from gradio_client import Client

    raw = Client(server[0].local_url, verbose=False, download_files=False)
    for endpoint in raw.endpoints.values():
        endpoint._upload_file = lambda file, data_index: file
    return raw


def server_path(path: str | Path) -> dict:
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}}


def job_folders(config: AppConfig) -> list[Path]:
    return sorted(p for p in config.output_dir.iterdir() if p.name.startswith("job-"))


def upscale(client: object, image: object, scale: int = 2, ensemble: bool = False) -> tuple:
    return client.predict(image, "bicubic", scale, "auto", ensemble, "auto", api_name="/upscale")


def secret_image(tmp_path: Path) -> Path:
    return save(tmp_path / "secret.png", np.full((8, 8, 3), 200, np.uint8))


# ------------------------------------------------------------------------------------------ 1: uploads


@pytest.mark.parametrize("name", ["secret.png", "secret.txt"])
def test_server_file_named_as_upload_is_refused_before_it_is_read(attacker: object, server, tmp_path: Path,
                                                                  name: str) -> None:
    from gradio_client.exceptions import AppError

    _, config = server
    target = secret_image(tmp_path) if name.endswith(".png") else tmp_path / name
    if name.endswith(".txt"):
        target.write_text("server secret")
    before = job_folders(config)
    accessed = os.stat(target).st_atime_ns
    with pytest.raises(AppError) as caught:
        upscale(attacker, server_path(target))
    message = str(caught.value)
    assert message == f"{name}: refused: only files uploaded through this page are accepted"
    assert str(tmp_path) not in message and caught.value.duration is None
    assert job_folders(config) == before  # nothing processed, nothing written
    assert os.stat(target).st_atime_ns == accessed


def test_server_file_named_as_style_content_or_style_is_refused(attacker: object, tmp_path: Path) -> None:
    from gradio_client.exceptions import AppError

    secret = secret_image(tmp_path)
    for content, styles in ((server_path(secret), []), (None, [server_path(secret)])):
        for method in ("sanet", "optimize"):
            with pytest.raises(AppError, match=r"^secret.png: refused: only files uploaded through this page"):
                attacker.predict(content, styles, 1.0, False, method, "the content's", 150, 30, api_name="/stylize")
        # The time estimate reads the images' headers: the same guard stands before it.
        with pytest.raises(AppError, match=r"^secret.png: refused: only files uploaded through this page"):
            attacker.predict(content, styles, "sanet", "the content's", 1.0, 150, 30, api_name="/style_estimate")


def test_link_in_the_upload_cache_pointing_outside_is_refused(attacker: object, server, tmp_path: Path) -> None:
    from gradio_client.exceptions import AppError

    demo, _ = server
    secret = secret_image(tmp_path)
    planted = Path(demo.GRADIO_CACHE) / f"planted-{os.getpid()}"
    planted.mkdir(parents=True)
    try:
        (planted / "innocent.png").symlink_to(secret)
        with pytest.raises(AppError, match=r"^innocent.png: refused"):
            upscale(attacker, server_path(planted / "innocent.png"))
        with pytest.raises(AppError, match=r"refused"):
            upscale(attacker, server_path(planted / ".." / ".." / secret.relative_to("/")))
    finally:
        (planted / "innocent.png").unlink()
        planted.rmdir()


def test_url_named_as_upload_is_refused_without_fetching(attacker: object) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=r"^x.png: refused"):
        upscale(attacker, server_path("http://127.0.0.1:9/x.png"))


def test_error_for_an_uploaded_non_image_names_it_by_base_name_only(client: object, tmp_path: Path) -> None:
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    notes = tmp_path / "notes.png"
    notes.write_text("not a picture")
    with pytest.raises(AppError) as caught:
        upscale(client, handle_file(str(notes)))
    message = str(caught.value)
    assert message.startswith("notes.png: ") and "/" not in message.split(":")[0]
    assert "gradio" not in message and str(tmp_path) not in message


def test_real_uploads_still_work(client: object, tmp_path: Path) -> None:
    from gradio_client import handle_file

    source = save(tmp_path / "tiny.png", np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8))
    _, summary, download = upscale(client, handle_file(str(source)))
    assert load(download).pixels.shape == (20, 24, 3) and "12×10 → 24×20" in summary


# ------------------------------------------------------------------------------------------ 2, 3: job folders


def test_job_cleanup_removes_only_its_own_expired_folders_and_follows_no_link(client: object, server,
                                                                               tmp_path: Path) -> None:
    from gradio_client import handle_file

    _, config = server
    root = config.output_dir
    long_ago = time.time() - 7200
    foreign = root / "someone-elses"
    foreign.mkdir()
    (foreign / "data.txt").write_text("keep")
    unmarked = root / ("job-" + "0" * 32)
    unmarked.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / JOB_MARKER).write_text("")
    (outside / "precious.txt").write_text("keep")
    linked = root / ("job-" + "1" * 32)
    linked.symlink_to(outside, target_is_directory=True)
    expired = new_job_folder(root)
    (expired / "inner-link").symlink_to(outside, target_is_directory=True)
    for path in (foreign, unmarked, expired):
        os.utime(path, (long_ago, long_ago))
    os.utime(linked, (long_ago, long_ago), follow_symlinks=False)

    source = save(tmp_path / "tiny.png", np.zeros((4, 4, 3), np.uint8))
    upscale(client, handle_file(str(source)))

    assert not expired.exists()
    assert (foreign / "data.txt").read_text() == "keep" and unmarked.is_dir() and linked.is_symlink()
    assert sorted(p.name for p in outside.iterdir()) == [JOB_MARKER, "precious.txt"]


def test_result_folders_have_128_bit_random_names(client: object, server, tmp_path: Path) -> None:
    from gradio_client import handle_file

    _, config = server
    source = save(tmp_path / "named.png", np.zeros((4, 4, 3), np.uint8))
    before = set(job_folders(config))
    upscale(client, handle_file(str(source)))
    created = set(job_folders(config)) - before
    assert len(created) == 1
    folder = created.pop()
    assert JOB_NAME.fullmatch(folder.name)  # 32 hex digits: 128 bits from secrets
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(config.output_dir.stat().st_mode) == 0o700


def test_symlinked_output_root_is_refused_at_launch(tmp_path: Path) -> None:
    target = tmp_path / "anywhere"
    target.mkdir()
    link = tmp_path / "restore-app"
    link.symlink_to(target, target_is_directory=True)
    with pytest.raises(RestoreError, match="is a symbolic link; refusing to follow it"):
        launch(AppConfig(output_dir=link, device="cpu"), port=free_port(), prevent_thread_lock=True, quiet=True)
    assert list(target.iterdir()) == []


def test_output_root_of_another_user_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "restore-app"
    root.mkdir(mode=0o755)
    monkeypatch.setattr(os, "getuid", lambda: os.stat(root).st_uid + 1)
    with pytest.raises(RestoreError, match="belongs to another user"):
        prepare_output_root(root)


def test_output_root_is_created_private(tmp_path: Path) -> None:
    root = prepare_output_root(tmp_path / "fresh")
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o777)
    os.chmod(loose, 0o777)
    assert stat.S_IMODE(prepare_output_root(loose).stat().st_mode) == 0o700


# ------------------------------------------------------------------------------------------ 4, 5: work, errors


def test_work_per_request_is_bounded_with_a_clear_message(client: object, tmp_path: Path) -> None:
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    source = save(tmp_path / "small.png", np.zeros((10, 12, 3), np.uint8))
    with pytest.raises(AppError) as caught:
        upscale(client, handle_file(str(source)), scale=4, ensemble=True)
    assert str(caught.value) == (
        "small.png (12x10) at x4 with the self-ensemble (8 passes) is 15,360 pixels of network work; this app "
        "allows 10,000 pixels per job (output pixels x passes). Turn off the self-ensemble, choose a smaller "
        "scale, or crop the image; a deployment raises the limit with restore app --max-work N "
        "(RESTORE_APP_MAX_WORK).")
    _, _, download = upscale(client, handle_file(str(source)), scale=4, ensemble=False)
    assert load(download).pixels.shape == (40, 48, 3)


def test_work_limit_is_tunable_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESTORE_APP_MAX_WORK", "123")
    assert AppConfig.from_env().max_work == 123
    assert AppConfig.from_env(max_work=7).max_work == 7


def test_errors_stay_on_the_page_until_closed(client: object, tmp_path: Path) -> None:
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    source = save(tmp_path / "large.png", np.zeros((80, 80, 3), np.uint8))
    with pytest.raises(AppError) as caught:
        upscale(client, handle_file(str(source)))
    assert "large.png is 80x80" in str(caught.value)
    assert caught.value.duration is None and caught.value.visible  # no timeout: it stays until closed


def test_only_the_apps_own_example_folder_is_trusted_besides_uploads(tmp_path: Path) -> None:
    from restore.app.examples import EXAMPLES_DIR
    from restore.app.uploads import uploaded_file

    cache, outside = tmp_path / "cache", tmp_path / "secret.png"
    cache.mkdir()
    outside.write_bytes(b"server file")
    example = next(path for path in EXAMPLES_DIR.iterdir() if path.suffix in (".jpg", ".png", ".webp"))
    assert uploaded_file(example, cache, shipped=(EXAMPLES_DIR,)) == example.resolve()
    with pytest.raises(RestoreError, match="^secret.png: refused"):
        uploaded_file(outside, cache, shipped=(EXAMPLES_DIR,))
    with pytest.raises(RestoreError, match="refused"):
        uploaded_file(example, cache)  # a field without shipped pictures takes uploads only
    (cache / "link.png").symlink_to(outside)
    with pytest.raises(RestoreError, match="refused"):
        uploaded_file(cache / "link.png", cache, shipped=(EXAMPLES_DIR,))

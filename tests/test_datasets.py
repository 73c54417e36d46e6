"""The dataset registry against the shared data root, and the checks catching damaged copies."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from restore.cli import main as cli_main
from restore.datasets import BENCHMARK_SETS, check_dataset, get_dataset, list_datasets, pixel_sha256, resolve_name
from restore.errors import DataError


@pytest.mark.parametrize("name", ["Set5", "Set14", "BSD100", "Urban100"])
def test_shared_benchmark_sets_check_clean_quickly(datasets_dir, name):
    report = check_dataset(name, datasets_dir, verify_checksums=False)
    assert report.ok, report.problems()
    expected = {"Set5": 20, "Set14": 56, "BSD100": 200, "Urban100": 100}[name]
    assert report.found_files == report.expected_files == expected


def test_shared_urban100_matches_its_pixel_checksums(datasets_dir):
    report = check_dataset("Urban100", datasets_dir, verify_checksums=True)
    assert report.ok, report.problems()
    paths = get_dataset("Urban100", datasets_dir).hr_paths()
    assert len(paths) == 100 and paths[0].name == "img_001.webp" and paths[-1].name == "img_100.webp"


@pytest.fixture
def root_without_urban100(datasets_dir, tmp_path) -> Path:
    """A data root with the shared Set5 linked in and no Urban100: the "absent" cases need one."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "Set5").symlink_to(datasets_dir / "Set5")
    return root


def test_shared_set14_checks_clean_with_sha256(datasets_dir):
    report = check_dataset("Set14", datasets_dir, verify_checksums=True)
    assert report.ok, report.problems()
    assert report.checked == "sha256"


def test_training_and_style_sets_are_registered_but_never_benchmarks(datasets_dir):
    roles = {spec.name: spec.role for spec in list_datasets()}
    assert {name for name, role in roles.items() if role == "benchmark"} == set(BENCHMARK_SETS)
    assert roles["T91"] == roles["BSD200"] == roles["photos"] == "training"
    assert roles["style"] == roles["content"] == "style"
    assert check_dataset("T91", datasets_dir, verify_checksums=False).ok
    assert len(get_dataset("BSD200", datasets_dir).hr_paths()) == 200


def test_an_absent_set_is_reported_with_what_is_missing_and_where(root_without_urban100):
    report = check_dataset("Urban100", root_without_urban100)
    assert not report.present and not report.ok
    (message,) = report.problems()
    assert "Urban100 is absent" in message
    assert str(root_without_urban100 / "Urban100") in message
    assert "HR/img_001.webp" in message and "100 images" in message
    with pytest.raises(DataError, match="Urban100 is absent"):
        get_dataset("Urban100", root_without_urban100).hr_paths()


def test_manga109_is_count_only_and_states_its_licence(tmp_path):
    dataset = get_dataset("manga109", tmp_path)
    assert dataset.spec.images == 109 and dataset.entries() == []
    with pytest.raises(DataError, match="academic use only"):
        dataset.hr_paths()


def test_aliases_and_capitalisation_resolve_to_one_set(datasets_dir):
    assert resolve_name("B100") == resolve_name("bsd100") == "BSD100"
    assert get_dataset("B100", datasets_dir).folder == datasets_dir / "BSD100"
    with pytest.raises(DataError, match="unknown dataset 'Set6'"):
        get_dataset("Set6")


def test_lr_paths_exist_only_at_the_published_scales(datasets_dir):
    set5 = get_dataset("Set5", datasets_dir)
    hr = set5.hr_paths()
    assert [p.name for p in hr] == ["baby.png", "bird.png", "butterfly.png", "head.png", "woman.png"]
    assert set5.lr_path("baby", 3) == datasets_dir / "Set5" / "LR_bicubic" / "X3" / "babyx3.png"
    assert set5.lr_path("baby", 3).is_file()
    bsd100 = get_dataset("B100", datasets_dir)
    assert bsd100.lr_path("101085", 4).is_file()
    assert bsd100.lr_path("101085", 2) is None and bsd100.lr_path("101085", 3) is None


def test_pixel_checksum_matches_the_registry_for_a_webp(datasets_dir):
    entry = get_dataset("T91", datasets_dir).entries()[0]
    assert pixel_sha256(datasets_dir / "train" / "T91" / entry.path) == entry.pixel_sha256


@pytest.fixture
def set5_copy(datasets_dir, tmp_path) -> Path:
    shutil.copytree(datasets_dir / "Set5", tmp_path / "Set5")
    return tmp_path


def test_damaged_copy_names_the_missing_altered_and_extra_files(set5_copy):
    folder = set5_copy / "Set5"
    (folder / "HR" / "bird.png").unlink()
    altered = folder / "LR_bicubic" / "X2" / "headx2.png"
    blob = bytearray(altered.read_bytes())
    blob[200] ^= 0x01  # same size: only the checksum can see it
    altered.write_bytes(bytes(blob))
    (folder / "HR" / "stray.png").write_bytes(b"not part of Set5")

    report = check_dataset("Set5", set5_copy, verify_checksums=True)
    assert report.missing == ["HR/bird.png"]
    assert report.extra == ["HR/stray.png"]
    assert [(m.path, m.what) for m in report.mismatches] == [("LR_bicubic/X2/headx2.png", "sha256")]
    text = "\n".join(report.problems())
    assert str(folder / "HR" / "bird.png") in text and "headx2.png" in text
    with pytest.raises(DataError, match="missing .*bird.png"):
        report.raise_for_problems()
    with pytest.raises(DataError, match="1 of 5 images missing: .*bird.png"):
        get_dataset("Set5", set5_copy).hr_paths()

    quick = check_dataset("Set5", set5_copy, verify_checksums=False)
    assert quick.missing == ["HR/bird.png"] and quick.mismatches == []


def test_quick_check_sees_a_size_change(set5_copy):
    truncated = set5_copy / "Set5" / "HR" / "woman.png"
    truncated.write_bytes(truncated.read_bytes()[:-10])
    report = check_dataset("Set5", set5_copy, verify_checksums=False)
    assert [(m.path, m.what) for m in report.mismatches] == [("HR/woman.png", "bytes")]


def test_cli_check_exit_codes(set5_copy, datasets_dir, root_without_urban100, capsys):
    assert cli_main(["datasets", "check", str(datasets_dir), "--dataset", "set5,B100,Urban100", "--quick"]) == 0
    assert cli_main(["datasets", "check", str(root_without_urban100), "--dataset", "Urban100", "--quick"]) == 1
    assert "Urban100 is absent" in capsys.readouterr().out
    (set5_copy / "Set5" / "HR" / "head.png").unlink()
    assert cli_main(["datasets", "check", str(set5_copy), "--dataset", "Set5"]) == 1
    assert "head.png" in capsys.readouterr().out


def test_cli_list_marks_present_and_absent_sets(datasets_dir, root_without_urban100, capsys):
    assert cli_main(["datasets", "list", "--data-root", str(datasets_dir)]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[3:]}
    assert rows["Set5"][1:4] == ["benchmark", "present", "5/5"]
    assert rows["Urban100"][1:4] == ["benchmark", "present", "100/100"]
    assert rows["T91"][1:3] == ["training", "present"]
    assert cli_main(["datasets", "list", "--data-root", str(root_without_urban100)]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[3:]}
    assert rows["Urban100"][1:4] == ["benchmark", "absent", "0/100"]

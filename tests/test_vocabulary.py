"""Shared vocabulary is declared once: image suffixes, output suffixes, benchmark set names, the parameter-count
text, the tile rule, and the engine's errors for user mistakes (RestoreErrors the front ends print as they are)."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from restore.cli import main
from restore.engine.tile_option import MIN_TILE, parse_tile
from restore.errors import RestoreError, SettingsError
from restore.io.suffixes import FORMATS, IMAGE_SUFFIXES, OUTPUT_SUFFIX
from restore.paths import REPO_ROOT


def _sources():
    return sorted((REPO_ROOT / "restore").rglob("*.py"))


def test_image_suffixes_are_listed_in_one_module():
    listing = re.compile(r"""["']\.png["']\s*[,:]\s*["']?\w*["']?\s*,?\s*["']\.jpe?g["']""")
    offenders = [str(path.relative_to(REPO_ROOT)) for path in _sources() if listing.search(path.read_text())]
    assert offenders == ["restore/io/suffixes.py"]


def test_every_written_format_has_an_output_suffix_that_is_an_image_suffix():
    assert set(OUTPUT_SUFFIX) == set(FORMATS.values())
    assert all(FORMATS[suffix] == name for name, suffix in OUTPUT_SUFFIX.items())
    assert set(FORMATS) <= set(IMAGE_SUFFIXES)


def test_benchmark_set_names_are_typed_only_in_datasets():
    offenders = [str(path.relative_to(REPO_ROOT)) for path in _sources()
                 if re.search(r"""["']Manga109["']""", path.read_text())]
    assert offenders == ["restore/datasets.py"]


def test_parameter_counts_read_the_same_everywhere():
    from restore.zoo import format_params

    assert (format_params(0), format_params(301_227)) == ("0", "0.30 M")
    formatters = [str(path.relative_to(REPO_ROOT)) for path in _sources()
                  if re.search(r'1e6:\.2f\} M"', path.read_text())]
    assert formatters == ["restore/zoo.py"]


@pytest.mark.parametrize(("text", "tile"), [("auto", "auto"), ("", "auto"), ("none", None), ("0", None),
                                            (0, None), (None, None), ("16", 16), (256, 256)])
def test_tile_rule(text, tile):
    assert parse_tile(text) == tile


@pytest.mark.parametrize("text", ["1", "15", "big", "-16"])
def test_tile_rule_refuses_tiny_and_unreadable_tiles(text):
    with pytest.raises(SettingsError, match="too small|'auto', 'none' or a size"):
        parse_tile(text)


def test_cli_and_app_share_the_tile_rule(tmp_path, capsys):
    from restore.app import handlers

    assert handlers.parse_tile is parse_tile
    with pytest.raises(SystemExit) as caught:
        main(["upscale", str(tmp_path), "-o", str(tmp_path / "out"), "--tile", str(MIN_TILE - 1)])
    assert caught.value.code == 2 and "too small; use at least 16" in capsys.readouterr().err


@pytest.mark.parametrize("settings", [dict(tile=0), dict(outscale=-1.0), dict(precision="fp8"), dict(device="gpu")])
def test_upscaler_settings_mistakes_are_restore_errors(settings):
    from restore.engine import Upscaler

    with pytest.raises(SettingsError) as caught:
        Upscaler("bicubic", 2, **{"device": "cpu", **settings})
    assert isinstance(caught.value, RestoreError) and isinstance(caught.value, ValueError)


def test_a_module_of_another_scale_is_a_settings_error():
    from restore.engine import Upscaler

    upscaler = Upscaler(torch.nn.Upsample(scale_factor=2), scale=4, device="cpu", tile=None)
    with pytest.raises(SettingsError, match="not x4"):
        upscaler.upscale_array(np.zeros((4, 4, 3), np.uint8))

"""Recognising checkpoints from their tensors (restore.recognise / restore.load / restore inspect / restore upscale
--weights): every arch at non-paper shapes in every layout and wrapper, fp16 and fp32; BasicSR's RCAN against
BasicSR's own forward; near misses, ambiguity and disagreeing options are clear errors."""
from __future__ import annotations

import dataclasses
import json
import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import restore
from restore import archs
from restore.archs import build_model
from restore.checkpoint import CheckpointError
from restore.cli import main
from restore.hashing import sha256_file
from restore.interop.recognise import AmbiguousCheckpoint, UnrecognisedCheckpoint, recognise
from restore.io import load, save

# Non-paper shapes, each small enough to build in milliseconds.
SHAPES = {
    "rcan": {"n_resgroups": 2, "n_resblocks": 3, "n_feats": 12, "reduction": 4},
    "rdn": {"G0": 8, "D": 3, "C": 2, "G": 6},
    "rnan": {"n_resgroups": 3, "n_feats": 8},
    "san": {"n_resgroups": 2, "n_resblocks": 2, "n_feats": 8, "reduction": 2},
}
WRAPPINGS = {
    "bare": (lambda sd: sd, ()),
    "basicsr params": (lambda sd: {"params": sd}, ("params",)),
    "basicsr params_ema": (lambda sd: {"params": sd, "params_ema": sd, "iter": torch.tensor(3)}, ("params_ema",)),
    "lightning + DataParallel": (lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}},
                                 ("state_dict", "module.")),
}


class _RunsCode:
    def __reduce__(self):
        return (print, ("ran",))


def _network(arch: str, scale: int, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(arch, scale, **SHAPES[arch]).eval()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
@pytest.mark.parametrize("arch", sorted(SHAPES))
def test_every_arch_is_recognised_at_a_non_paper_shape_in_every_wrapper_and_dtype(arch, dtype, tmp_path):
    for scale in (2, 3, 4):
        state = {key: value.to(dtype) for key, value in _network(arch, scale).state_dict().items()}
        for wrapping, (wrap, wrappers) in WRAPPINGS.items():
            path = tmp_path / f"{arch}_{scale}_{wrapping.replace(' ', '_')}.pth"
            torch.save(wrap(state), path)
            found = recognise(path)
            assert (found.arch, found.scale, found.layout, found.wrappers) == (arch, scale, "official", wrappers)
            assert {key: found.config[key] for key in SHAPES[arch]} == SHAPES[arch]
            assert found.dtype == str(dtype).removeprefix("torch.")
            assert found.params == sum(value.numel() for value in state.values())


@pytest.mark.parametrize("arch", sorted(SHAPES))
def test_a_zoo_file_with_its_card_is_the_restore_layout_and_loads_its_weights(arch, tmp_path):
    reference = _network(arch, 3)
    weights = tmp_path / f"tiny-{arch}_x3.safetensors"
    save_file({k: v.half().contiguous() for k, v in reference.state_dict().items()}, str(weights))
    card = {"name": f"tiny-{arch}", "arch": arch, "scale": 3, "config": SHAPES[arch], "weights": weights.name,
            "sha256": sha256_file(weights)}
    (tmp_path / f"tiny-{arch}_x3.json").write_text(json.dumps(card))

    found = recognise(weights)
    assert (found.layout, found.name, found.arch, found.scale, found.dtype) == ("restore", f"tiny-{arch}", arch, 3,
                                                                                  "float16")
    model = restore.load(weights)
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value.half().float())


def test_a_card_configuration_beyond_the_official_keys_is_read_from_the_card(tmp_path):
    config = {**SHAPES["rcan"], "attention": "cbam"}
    weights = tmp_path / "cbam-rcan_x2.safetensors"
    save_file({k: v.contiguous() for k, v in build_model("rcan", 2, **config).state_dict().items()}, str(weights))
    (tmp_path / "cbam-rcan_x2.json").write_text(json.dumps(
        {"name": "cbam-rcan", "arch": "rcan", "scale": 2, "config": config, "weights": weights.name}))
    found = recognise(weights)
    assert (found.layout, found.config["attention"]) == ("restore", "cbam")
    with pytest.raises(UnrecognisedCheckpoint, match="closest: RCAN x2"):
        recognise(dict(restore.load(weights).state_dict()))  # without its card, no known layout fits


def _basicsr_rcan(scale: int, **options):
    from restore.interop.basicsr_compat import import_basicsr

    import_basicsr()
    from basicsr.archs.rcan_arch import RCAN

    torch.manual_seed(scale)
    network = RCAN(3, 3, num_feat=12, num_group=2, num_block=3, squeeze_factor=4, upscale=scale, **options).eval()
    with torch.no_grad():
        for parameter in network.parameters():  # far from the init, so a wrong mapping cannot hide
            parameter.normal_(0, 0.1)
    return network


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_basicsr_rcan_at_a_non_default_shape_matches_basicsrs_own_forward(scale, tmp_path):
    network = _basicsr_rcan(scale)
    path = tmp_path / "net_g_latest.pth"
    torch.save({"params": network.state_dict()}, path)  # as BasicSR saves it

    found = recognise(path)
    assert (found.arch, found.scale, found.layout, found.wrappers) == ("rcan", scale, "basicsr", ("params",))
    assert found.assumed == {"img_range": 255.0, "rgb_mean": (0.4488, 0.4371, 0.4040)}  # BasicSR's defaults
    assert {key: found.config[key] for key in SHAPES["rcan"]} == SHAPES["rcan"]
    image = torch.rand(1, 3, 9, 11)
    with torch.no_grad():
        expected = network(image)
        ours = restore.load(path)(image * 255) / 255
    assert (ours - expected).abs().max() * 255 < 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
def test_basicsr_rcan_is_recognised_in_every_wrapper_and_dtype(dtype, tmp_path):
    state = {key: value.to(dtype) for key, value in _basicsr_rcan(4).state_dict().items()}
    for wrapping, (wrap, wrappers) in WRAPPINGS.items():
        path = tmp_path / f"{wrapping.replace(' ', '_')}.pth"
        torch.save(wrap(state), path)
        found = recognise(path)
        assert (found.arch, found.scale, found.layout, found.wrappers) == ("rcan", 4, "basicsr", wrappers)
        assert found.dtype == str(dtype).removeprefix("torch.")
        assert {key: found.config[key] for key in SHAPES["rcan"]} == SHAPES["rcan"]


def test_python_upscale_with_only_weights_takes_the_files_scale(tmp_path):
    path = tmp_path / "rdn.pt"
    torch.save(_network("rdn", 3).state_dict(), path)
    upscaled = restore.upscale(np.zeros((4, 5, 3), np.uint8), weights=path, device="cpu", tile=None)
    assert upscaled.shape == (12, 15, 3)


def test_basicsr_rcan_with_another_img_range_and_mean_matches_when_they_are_given(tmp_path):
    options = {"img_range": 1.0, "rgb_mean": (0.5, 0.4, 0.3)}
    network = _basicsr_rcan(2, **options)
    image = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        expected = network(image)
        ours = restore.load(dict(network.state_dict()), **options)(image * 255) / 255
    assert (ours - expected).abs().max() * 255 < 1


def test_restore_upscale_with_only_basicsr_weights_matches_basicsrs_forward(tmp_path, capsys):
    network = _basicsr_rcan(2)
    weights = tmp_path / "net_g.pth"
    torch.save({"params": network.state_dict()}, weights)
    rng = np.random.default_rng(0)
    (tmp_path / "in").mkdir()
    save(tmp_path / "in" / "a.png", rng.integers(0, 256, (7, 9, 3), dtype=np.uint8))

    assert main(["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--weights", str(weights),
                 "--device", "cpu", "--precision", "fp32", "--tile", "0"]) == 0
    shown = capsys.readouterr().out
    assert "model: rcan x2 (from" in shown and "basicsr layout (assumed, not in the file: img_range=255.0" in shown
    upscaled = load(tmp_path / "out" / "a.png").pixels.astype(np.float64)
    source = torch.from_numpy(load(tmp_path / "in" / "a.png").pixels).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        expected = (network(source)[0].permute(1, 2, 0).clamp(0, 1) * 255).round().numpy()
    assert np.abs(upscaled - expected).max() <= 1


def test_inspect_prints_json_with_the_issue_keys(tmp_path, capsys):
    path = tmp_path / "rdn.pt"
    torch.save({"model": _network("rdn", 4).half().state_dict()}, path)
    assert main(["inspect", str(path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert {"arch", "scale", "config", "layout", "params", "dtype", "wrappers"} <= set(shown)
    assert (shown["arch"], shown["scale"], shown["layout"], shown["dtype"], shown["wrappers"]) == (
        "rdn", 4, "official", "float16", ["model"])
    assert {key: shown["config"][key] for key in SHAPES["rdn"]} == SHAPES["rdn"]

    assert main(["inspect", str(path)]) == 0
    text = capsys.readouterr().out
    assert "RDN" in text and "x4" in text and "G0=8, D=3, C=2, G=6" in text and "float16" in text


def test_a_file_in_no_layout_names_the_closest_arch_and_the_keys_that_did_not_fit(tmp_path, capsys):
    state = dict(_network("san", 2).state_dict())
    del state["tail.1.bias"]
    state["RG.0.extra.weight"] = torch.zeros(2)
    state["head.0.weight"] = torch.zeros(8, 3, 5, 5)
    path = tmp_path / "damaged.pt"
    torch.save(state, path)
    with pytest.raises(UnrecognisedCheckpoint) as raised:
        recognise(path)
    message = str(raised.value)
    assert "closest: SAN x2 in the official layout" in message
    assert "missing (in the network, not in the file) [1]: tail.1.bias\n" in message
    assert "unexpected (in the file, not in the network) [1]: RG.0.extra.weight\n" in message
    assert "shape-mismatched [1]: head.0.weight file (8, 3, 5, 5) vs network (8, 3, 3, 3)" in message

    assert main(["inspect", str(path)]) == 2
    assert "closest: SAN x2" in capsys.readouterr().err
    assert main(["upscale", str(path), "-o", str(tmp_path / "out"), "--weights", str(path), "-q"]) == 2
    assert "nothing was guessed" in capsys.readouterr().err


def test_a_file_of_unknown_keys_says_none_is_a_known_archs():
    with pytest.raises(UnrecognisedCheckpoint, match="None of its 2 keys is a known arch's"):
        recognise({"encoder.weight": torch.zeros(1), "decoder.weight": torch.zeros(1)})


def test_a_file_two_archs_fit_is_an_error_listing_both():
    from toy_arch import SPEC

    twin = dataclasses.replace(SPEC, name="toytwin", title="ToyTwin")
    archs.register(SPEC)
    archs.register(twin)
    try:
        with pytest.raises(AmbiguousCheckpoint) as raised:
            recognise(build_model("toy", 2, n_feats=6).state_dict())
    finally:
        archs.unregister("toy")
        archs.unregister("toytwin")
    assert "Toy x2 (official layout, n_feats=6)" in str(raised.value)
    assert "ToyTwin x2 (official layout, n_feats=6)" in str(raised.value)


def test_a_scale_or_model_that_disagrees_with_the_file_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "rnan_x3.pt"
    torch.save(_network("rnan", 3).state_dict(), path)
    image = tmp_path / "a.png"
    save(image, np.zeros((4, 4, 3), np.uint8))
    common = [str(image), "-o", str(tmp_path / "out"), "--weights", str(path), "-q"]

    assert main(["upscale", *common, "--scale", "2"]) == 2
    assert "--scale 2 disagrees with" in capsys.readouterr().err
    assert main(["upscale", *common, "--model", "san"]) == 2
    assert "--model san (SAN) disagrees with" in capsys.readouterr().err
    with pytest.raises(restore.errors.SettingsError, match="x3 weights"):
        restore.load(path, scale=4)
    assert isinstance(restore.load(path, scale=3, model="rnan"), torch.nn.Module)
    assert main(["upscale", *common, "--model", "rnan", "--scale", "3", "--device", "cpu"]) == 0


def test_unsafe_pickles_and_non_finite_weights_are_still_refused(tmp_path):
    state = dict(_network("rcan", 2).state_dict())
    state["head.0.bias"] = state["head.0.bias"].clone().fill_(float("nan"))
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        recognise(state)
    path = tmp_path / "code.pt"
    with path.open("wb") as handle:
        pickle.dump({"params": _RunsCode()}, handle, protocol=2)
    with pytest.raises(CheckpointError, match="refusing"):
        recognise(path)


def test_a_card_that_does_not_describe_its_file_is_an_error_not_a_fallback(tmp_path):
    weights = tmp_path / "wrong_x2.safetensors"
    save_file({k: v.contiguous() for k, v in _network("rdn", 2).state_dict().items()}, str(weights))
    card = {"name": "wrong", "arch": "rdn", "scale": 2, "config": {**SHAPES["rdn"], "D": 4}, "weights": weights.name}
    (tmp_path / "wrong_x2.json").write_text(json.dumps(card))
    with pytest.raises(restore.errors.WeightsError, match="does not fit its card") as raised:
        recognise(weights)
    assert "missing (in the network, not in the file) [" in str(raised.value)
    (tmp_path / "wrong_x2.json").write_text(json.dumps({**card, "config": SHAPES["rdn"], "sha256": "0" * 64}))
    with pytest.raises(restore.errors.WeightsError, match="does not match the sha256 pinned in its card"):
        recognise(weights)


def test_a_style_transfer_file_is_named_as_one():
    from restore.paths import REPO_ROOT

    with pytest.raises(UnrecognisedCheckpoint, match="SANet style-transfer model"):
        recognise(REPO_ROOT / "models" / "sanet-vgg16.safetensors")


def test_a_file_in_no_layout_loads_strictly_into_a_network_named_by_model_and_scale(tmp_path, monkeypatch):
    from restore.engine import Upscaler

    config = {**SHAPES["rcan"], "attention": "cbam"}
    network = build_model("rcan", 2, **config)
    (tmp_path / "cbam-rcan_x2.json").write_text(json.dumps(
        {"name": "cbam-rcan", "arch": "rcan", "scale": 2, "config": config}))  # a card without weights
    monkeypatch.setenv("RESTORE_MODELS_DIR", str(tmp_path))
    path = tmp_path / "elsewhere.pt"
    torch.save({"params_ema": network.state_dict()}, path)

    with pytest.raises(UnrecognisedCheckpoint):
        Upscaler(weights=path, device="cpu")
    upscaler = Upscaler("cbam-rcan", 2, weights=path, device="cpu", tile=None)
    assert (upscaler.model_name, upscaler.recognised) == ("cbam-rcan", None)
    loaded = restore.load(path, model="cbam-rcan", scale=2)
    assert all(torch.equal(loaded.state_dict()[key], value) for key, value in network.state_dict().items())
    with pytest.raises(CheckpointError, match="does not fit the RCAN model"):
        restore.load(path, model="rcan", scale=2)  # the paper's RCAN: strict, so the misfit is listed

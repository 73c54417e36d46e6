"""Export the super-resolution networks to ONNX: any batch, height and width; RGB in [0, 1] in and out.

The graph takes ``lr`` (B, 3, H, W) float32 RGB in [0, 1] and returns ``sr`` (B, 3, s*H, s*W) float32 RGB in
[0, 1], clamped. Everything between is inside the graph: the scaling to the networks' [0, 255] range, the mean
shift (RCAN, RNAN, SAN), the network, the scaling back.

Blocks whose fast PyTorch path cannot become a graph with free sizes take their plain-ops path while tracing
(:mod:`restore.blocks.traceable`); the tests hold the two paths equal. Because a tracer can still freeze a size
silently, every export is checked before it is written: onnxruntime runs the graph at two sizes other than the
tracing example and must agree with PyTorch within one grey level.

Memory in onnxruntime: RNAN's non-local blocks form their (HW x HW) attention matrix whole in the graph (the
banded and fused PyTorch paths loop over a size-dependent number of bands), 2 x 4 (HW)^2 bytes per image: about
0.5 GB at a 96x96 input, 8.6 GB at 192x192. Tile large images (``restore upscale --backend onnxruntime`` does).
"""
from __future__ import annotations

import json
import os
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from restore.archs import spec, specs
from restore.errors import RestoreError
from restore.io.atomic import atomic_writer

__all__ = [
    "DEFAULT_OPSET",
    "INPUT_NAME",
    "OUTPUT_NAME",
    "OnnxExportError",
    "UnitRangeNetwork",
    "export_model",
    "export_network",
    "onnx_bytes",
]

# torch.onnx's own default in torch 2.14; onnxruntime 1.31 runs it.
DEFAULT_OPSET = 20
INPUT_NAME = "lr"
OUTPUT_NAME = "sr"
# The networks' pixel range (restore.engine.pixels feeds them float RGB in [0, 255]).
NETWORK_RANGE = 255.0
# The tracing example: batch 2 and sides above 1, because torch.export fixes any dimension traced at size 1.
_EXAMPLE_SHAPE = (2, 3, 16, 20)
# The check sizes: unlike the example and each other, odd sides, and one below SAN's 4-pixel quadrant minimum.
_CHECK_SHAPES = ((1, 3, 11, 6), (2, 3, 3, 17))
_CHECK_GREY_LEVELS = 1
_CHECK_SEED = 24


class OnnxExportError(RestoreError):
    """A model cannot be exported to ONNX, or its exported graph does not compute what PyTorch does."""


class UnitRangeNetwork(nn.Module):
    """A network on [0, 255] pixels, seen from [0, 1]: ``clamp(net(255 x) / 255, 0, 1)``.

    ``clamp=False`` leaves the output unclamped, for callers that blend tiles before clipping as the torch path
    does (the engine's onnxruntime backend).

    Shape: (B, 3, H, W) -> (B, 3, s*H, s*W).
    """

    def __init__(self, network: nn.Module, clamp: bool = True) -> None:
        super().__init__()
        self.network = network
        self.clamp = clamp

    def forward(self, lr: Tensor) -> Tensor:
        sr = self.network(lr * NETWORK_RANGE) / NETWORK_RANGE
        return sr.clamp(0.0, 1.0) if self.clamp else sr


def onnx_bytes(
    network: nn.Module,
    scale: int,
    *,
    opset: int = DEFAULT_OPSET,
    clamp: bool = True,
    metadata: Mapping[str, Any] | None = None,
    check: bool = True,
) -> bytes:
    """The serialised ONNX model of ``network`` (an SR network on [0, 255] pixels), checked unless ``check=False``.

    ``metadata`` lands in the model's metadata_props (values JSON-encoded unless strings), beside ``scale``,
    ``input_range`` and ``output_range``. Raises :class:`OnnxExportError` naming the block when tracing fails,
    and when onnxruntime's output differs from PyTorch's by more than one grey level.
    """
    _require_onnx_packages()
    import onnx

    wrapped = UnitRangeNetwork(network.float().eval(), clamp=clamp).eval()
    proto = _trace(wrapped, opset)
    properties = {"scale": scale, "input_range": "[0, 1]", "output_range": "[0, 1]" if clamp else "unclamped"}
    properties.update(metadata or {})
    for key, value in properties.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    onnx.checker.check_model(proto)
    serialised = proto.SerializeToString()
    if check:
        _check_against_torch(serialised, wrapped, scale)
    return serialised


def export_network(
    network: nn.Module,
    scale: int,
    path: str | os.PathLike,
    *,
    opset: int = DEFAULT_OPSET,
    clamp: bool = True,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``network``'s checked ONNX graph to ``path`` atomically (see :func:`onnx_bytes`); return the path."""
    serialised = onnx_bytes(network, scale, opset=opset, clamp=clamp, metadata=metadata)
    path = Path(path)
    with atomic_writer(path) as stream:
        stream.write(serialised)
    return path


def export_model(
    model: str,
    scale: int | None,
    path: str | os.PathLike,
    *,
    weights: str | os.PathLike | None = None,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Export ``model`` to ``path``: a zoo model (``rcan-compact``...), a paper arch with ``weights`` (strictly
    loaded), or a checkpoint file, recognised from its tensors (:func:`restore.interop.recognise.load`; its
    scale is the file's, and a ``scale`` that disagrees is refused).

    Unknown models, missing scales and missing weights raise the zoo's :class:`~restore.errors.WeightsError`.
    """
    from restore.zoo import find_entry, load_model

    if _looks_like_file(model):
        return _export_file(model, scale, path, weights=weights, opset=opset)
    if scale is None:
        raise OnnxExportError(f"--scale is needed for the model {model!r} (a checkpoint file brings its own)")
    entry = find_entry(model, scale)
    exportable = [arch.name for arch in specs() if arch.learned]
    if not spec(entry.arch).learned:
        raise OnnxExportError(
            f"{entry.name} ({entry.arch}) has no network to export; ONNX export covers {', '.join(exportable)}"
        )
    network = load_model(entry.name, scale, weights)
    metadata = {"model": entry.name, "arch": entry.arch, "config": dict(entry.config)}
    return export_network(network, scale, path, opset=opset, metadata=metadata)


def _export_file(
    file: str, scale: int | None, path: str | os.PathLike, *, weights: str | os.PathLike | None, opset: int
) -> Path:
    from restore.errors import DataError
    from restore.interop.recognise import load, recognise

    if weights is not None:
        raise OnnxExportError(f"{Path(file).name} is a checkpoint already: drop --weights")
    if not Path(file).is_file():
        raise DataError(f"{file}: not found")
    found = recognise(file)
    network = load(file, scale=scale)
    metadata = {"model": found.name, "arch": found.arch, "config": dict(found.config), "layout": found.layout}
    return export_network(network, found.scale, path, opset=opset, metadata=metadata)


def _looks_like_file(model: str) -> bool:
    return Path(model).suffix.lower() in (".pt", ".pth", ".safetensors", ".ckpt") or Path(model).is_file()


def _require_onnx_packages() -> None:
    missing = [name for name in ("onnx", "onnxscript", "onnxruntime") if not _importable(name)]
    if missing:
        raise OnnxExportError(f"ONNX export needs {', '.join(missing)}: pip install 'restore[onnx]'")


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _trace(wrapped: UnitRangeNetwork, opset: int):
    """The ONNX ModelProto of ``wrapped`` with free batch, height and width."""
    import warnings

    from restore.blocks.traceable import traceable

    example = torch.rand(*_EXAMPLE_SHAPE, generator=torch.Generator().manual_seed(_CHECK_SEED))
    dims = torch.export.Dim
    dynamic = {"lr": {0: dims("batch", min=1), 2: dims("height", min=1), 3: dims("width", min=1)}}
    try:
        with traceable(), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation notes are not the user's business
            # Size-oblivious tracing with deferred asserts: the tracer cannot prove facts such as h - h // 2 >= 0
            # through floor divisions and would otherwise refuse the free sizes or narrow them (e.g. to multiples
            # of 4); as runtime asserts those facts cost nothing, and the check below guards the result.
            with torch.fx.experimental._config.patch(backed_size_oblivious=True):
                exported = torch.export.export(
                    wrapped, (example,), dynamic_shapes=dynamic, strict=False,
                    prefer_deferred_runtime_asserts_over_guards=True,
                )
            program = torch.onnx.export(
                exported,
                (example,),
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                opset_version=opset,
                external_data=False,
                verbose=False,
            )
    except Exception as error:  # noqa: BLE001 - any tracer failure becomes one message naming the block
        hint = ""
        if "constraints violated" in str(error).lower():
            hint = " (the network branches on the input size in Python, which a graph with free sizes cannot hold)"
        raise OnnxExportError(f"ONNX export failed{_blame(error)}: {_first_line(error)}{hint}") from error
    proto = program.model_proto
    _name_dimensions(proto, {0: "batch", 2: "height", 3: "width"})
    return proto


def _name_dimensions(proto, names: Mapping[int, str]) -> None:
    """Replace the tracer's symbols (``s75``, ``2*s40``) by ``names`` of the input's axes, graph-wide."""
    import re

    symbols = {}
    for axis, dim in enumerate(proto.graph.input[0].type.tensor_type.shape.dim):
        if axis in names and dim.dim_param:
            symbols[dim.dim_param] = names[axis]
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, symbols)) + r")\b") if symbols else None
    if pattern is None:
        return
    for value in [*proto.graph.input, *proto.graph.output, *proto.graph.value_info]:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param:
                dim.dim_param = pattern.sub(lambda match: symbols[match.group(1)], dim.dim_param)


def _blame(error: BaseException) -> str:
    """`` in <block> (file:line)``: the innermost restore block or arch in the error's traceback, if any."""
    restore_root = Path(__file__).resolve().parent.parent
    suspects = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for frame in traceback.extract_tb(current.__traceback__):
            path = Path(frame.filename)
            if path.parent.name in ("blocks", "archs") and path.parent.parent == restore_root:
                suspects.append(f" in restore.{path.parent.name}.{path.stem}.{frame.name} ({path.name}:{frame.lineno})")
        current = current.__cause__ or current.__context__
    return suspects[-1] if suspects else ""


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _check_against_torch(serialised: bytes, wrapped: UnitRangeNetwork, scale: int) -> None:
    """onnxruntime must agree with PyTorch (its fast paths) within one grey level at sizes unlike the example."""
    import numpy as np
    import onnxruntime

    session = onnxruntime.InferenceSession(serialised, providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(_CHECK_SEED)
    for shape in _CHECK_SHAPES:
        lr = torch.rand(*shape, generator=generator)
        with torch.inference_mode():
            expected = wrapped(lr).numpy()
        try:
            produced = session.run([OUTPUT_NAME], {INPUT_NAME: lr.numpy()})[0]
        except Exception as error:  # noqa: BLE001 - onnxruntime's errors share one class
            raise OnnxExportError(
                f"the exported graph fails at a {shape[2]}x{shape[3]} input ({_first_line(error)}): "
                "a size was frozen while tracing"
            ) from error
        if expected.shape[-2:] != (shape[2] * scale, shape[3] * scale):
            raise OnnxExportError(f"the network maps {tuple(shape)} to {tuple(expected.shape)}, which is not x{scale}")
        if produced.shape != expected.shape:
            raise OnnxExportError(
                f"the exported graph maps a {shape[2]}x{shape[3]} input to {produced.shape[2]}x{produced.shape[3]}, "
                f"not x{scale}: a size was frozen while tracing"
            )
        levels = np.abs(_grey_levels(produced) - _grey_levels(expected)).max()
        if levels > _CHECK_GREY_LEVELS:
            raise OnnxExportError(
                f"the exported graph differs from PyTorch by {levels} grey levels at a {shape[2]}x{shape[3]} input: "
                "a size-dependent branch was frozen while tracing"
            )


def _grey_levels(image):
    import numpy as np

    return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.int16)

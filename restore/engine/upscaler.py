"""The upscaling engine: any common image array in, the same kind of array out, ``scale`` times larger.

``Upscaler`` binds a network (a zoo model, our best trained one by default) to a device, a precision and a
tiling policy, then upscales arrays one at a time or in batches. What happens to an array:

1. Its layout and depth are read (:mod:`restore.engine.pixels`): grey is replicated to RGB, 16-bit and
   float samples become float [0, 255] without quantisation, alpha is split off.
2. With alpha, the colour under fully transparent pixels is filled from the visible ones
   (:mod:`restore.engine.alpha`), so no dark halo appears where the upscaled alpha is partial.
3. The colour runs through the network, tiled (:func:`restore.engine.tiling.tiled_forward`), each tile or the
   whole image through :func:`restore.ensemble.self_ensemble` when ``self_ensemble=True``.
4. Alpha is upscaled with MATLAB bicubic on the host: cheap, and it adds no texture to a matte.
5. With ``outscale``, both planes go from the model's scale to the requested one with an antialiased
   bicubic resize (:func:`restore.engine.resample.resize_to`); the output side is ``round(outscale * side)``.
6. The planes go back to the input's layout and dtype, rounded and clipped.

Precision: 8-bit images run in the device's precision (:mod:`restore.engine.precision`). 16-bit and float
images run in float32 under ``precision="auto"``, because float16 holds only about 2048 levels across
[0, 255] where they have 65536; an explicit precision is honoured. For the same reason the ``bicubic``
model, which rounds its input to 8 bits to be MATLAB-exact on 8-bit images, is replaced by its unrounded
float form for deeper images.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from restore.archs import spec
from restore.engine.alpha import fill_transparent_colour
from restore.engine.memory import (
    MemoryModel,
    auto_tile_size,
    free_memory_bytes,
    memory_model_for,
)
from restore.engine.pixels import PixelFormat, from_planes, to_planes
from restore.engine.precision import memory_format_for, prepare_model, resolve_device, resolve_precision
from restore.engine.resample import FloatBicubic, resize_to
from restore.engine.tiling import DEFAULT_OVERLAP, Progress, tiled_forward
from restore.ensemble import self_ensemble as ensemble_forward
from restore.errors import SettingsError

__all__ = ["BACKENDS", "Upscaler"]

BACKENDS = ("torch", "onnxruntime")

# Alpha is resized on the host with MATLAB bicubic, whose 4 taps need 2 clean pixels beyond a tile edge; an
# overlap of 16 drops 4 at each tile border, so tiled alpha equals whole-image alpha.
_ALPHA_TILE = 512
_ALPHA_OVERLAP = 16


class Upscaler:
    """Upscale image arrays with a super-resolution network.

    Args:
        model: ``"auto"`` (the best trained zoo model at ``scale``, else bicubic), a zoo name
            (``restore zoo`` lists them), or an ``nn.Module`` with the networks' contract
            (float RGB [0, 255] in, ``scale`` times larger out).
        scale: the network's integer scale (None: the checkpoint's with ``weights``, else 4).
        weights: a checkpoint, recognised from its tensors (:func:`restore.interop.recognise.recognise`: any
            RCAN/RDN/RNAN/SAN configuration, official, BasicSR or zoo layout); with ``model="auto"`` it alone
            decides the network, and a ``model`` or ``scale`` that disagrees with it is a SettingsError.
        tile: LR tile side; ``"auto"`` picks the largest that fits in free memory (None when the whole image
            fits), ``None`` runs whole images (tiling only after an out-of-memory), an int fixes it.
        overlap: least LR overlap between tiles (see :mod:`restore.engine.tiling` for the default).
        self_ensemble: average the 8 flips/transposes (8x the time, a little more fidelity).
        precision: ``"auto"``, ``"fp32"``, ``"fp16"`` or ``"bf16"`` (see :mod:`restore.engine.precision`).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``...
        compile: wrap the network in ``torch.compile``.
        outscale: final scale if not ``scale`` (e.g. 3.5 with a x4 model): the model's output is resized.
        progress: ``progress(done, total)`` after every tile of the colour planes.
        backend: ``"torch"`` (default) or ``"onnxruntime"``: the network exported to ONNX (once, then cached) and
            run by onnxruntime on the CPU in float32, with the same tiles, blending and outputs.


    A setting it cannot use (tile, outscale, device, precision, a module that is not ``scale`` times larger)
    raises :class:`restore.errors.SettingsError`; an unknown model or missing weights, a ``WeightsError``.
    Both are ``RestoreError``s, whose message is meant for the user.
    """

    def __init__(
        self,
        model: str | nn.Module = "auto",
        scale: int | None = None,
        weights: str | os.PathLike | None = None,
        *,
        tile: int | str | None = "auto",
        overlap: int = DEFAULT_OVERLAP,
        self_ensemble: bool = False,
        precision: str = "auto",
        device: str | torch.device = "auto",
        compile: bool = False,
        outscale: float | None = None,
        progress: Progress | None = None,
        backend: str = "torch",
    ) -> None:
        if backend not in BACKENDS:
            raise SettingsError(f"unknown backend {backend!r}; choose {' or '.join(BACKENDS)}")
        if backend == "onnxruntime" and (compile or str(device) not in ("auto", "cpu")):
            raise SettingsError("the onnxruntime backend runs on the CPU and is not compiled: drop --device/--compile")
        if tile != "auto" and tile is not None and (not isinstance(tile, int) or tile < 1):
            raise SettingsError(f"tile must be 'auto', None or a positive int, got {tile!r}")
        if outscale is not None and outscale <= 0:
            raise SettingsError(f"outscale must be positive, got {outscale}")
        self.tile = tile
        self.overlap = int(overlap)
        self.self_ensemble = bool(self_ensemble)
        self.compile = bool(compile)
        self.outscale = outscale
        self.progress = progress
        self.backend = backend
        self.device = resolve_device("cpu" if backend == "onnxruntime" else device)
        self.precision = precision
        self.dtype = resolve_precision(precision, self.device)
        self.memory_format = memory_format_for(self.device)
        self.recognised = None  # what the weights file was read as (restore.interop.recognise.Recognised)
        self.network, self.model_name, self.arch, self.config, self.scale = self._load(model, scale, weights)
        # A network that rounds its input to 8 bits (the bicubic baseline) runs unrounded on deeper images.
        self._rounds_input = self.arch is not None and spec(self.arch).rounds_input
        if backend == "onnxruntime" and not (self.arch is None or spec(self.arch).learned):
            raise SettingsError(f"{self.arch} has no network to run in onnxruntime; use the torch backend")
        self._runners: dict[tuple[bool, torch.dtype], Callable[[Tensor], Tensor]] = {}

    def _load(
        self, model: str | nn.Module, scale: int | None, weights: str | os.PathLike | None
    ) -> tuple[nn.Module, str, str | None, dict[str, Any], int]:
        if isinstance(model, nn.Module):
            return model, type(model).__name__, None, {}, 4 if scale is None else int(scale)
        if weights is not None:
            from restore.interop.recognise import recognise_for

            # None: a file in no known layout, to be loaded strictly into the network model and scale name.
            self.recognised = found = recognise_for(weights, scale=scale, model=model)
            if found is not None:
                return found.build("cpu"), found.name, found.arch, dict(found.config), found.scale
        from restore.zoo import default_model, find_entry, load_model

        scale = 4 if scale is None else int(scale)
        name = default_model(scale) if model == "auto" else model
        entry = find_entry(name, scale)
        return load_model(name, scale, weights, device="cpu"), entry.name, entry.arch, dict(entry.config), scale

    def __repr__(self) -> str:
        return (
            f"Upscaler(model={self.model_name!r}, scale={self.scale}, tile={self.tile!r}, device={self.device}, "
            f"dtype={self.dtype}, self_ensemble={self.self_ensemble})"
        )

    # ------------------------------------------------------------------ planning

    def _dtype_for(self, deep: bool) -> torch.dtype:
        return torch.float32 if deep and self.precision == "auto" else self.dtype

    def _runner(self, deep: bool) -> Callable[[Tensor], Tensor]:
        dtype = self._dtype_for(deep)
        key = (deep and self._rounds_input, dtype)
        if key not in self._runners:
            network = FloatBicubic(self.scale) if key[0] else self.network
            if self.backend == "onnxruntime":
                from restore.interop.onnx_runtime import OnnxRuntimeNetwork, cached_graph
                from restore.paths import cache_dir

                prepared = OnnxRuntimeNetwork(cached_graph(network, self.scale, cache_dir()))
            else:
                prepared = prepare_model(network, self.device, dtype, compile=self.compile)
            self._runners[key] = functools.partial(ensemble_forward, prepared) if self.self_ensemble else prepared
        return self._runners[key]

    def _memory_model(self, dtype: torch.dtype) -> MemoryModel:
        model = memory_model_for(self.arch, self.scale, self.config, torch.empty((), dtype=dtype).element_size())
        if self.backend == "onnxruntime" and self.arch is not None and spec(self.arch).exported_quadratic:
            model = dataclasses.replace(model, quadratic=model.quadratic + spec(self.arch).exported_quadratic)
        return model

    def _host_bytes(self, batch: int, height: int, width: int) -> int:
        """What the host holds besides the forward: the float32 input and the accumulated output."""
        return batch * 4 * 4 * height * width * (1 + self.scale * self.scale)

    def tile_for(self, height: int, width: int, batch: int = 1, deep: bool = False) -> int | None:
        """The LR tile side used for a batch of (height, width) images (None: one forward for all)."""
        if self.tile != "auto":
            return self.tile  # type: ignore[return-value]
        reserved = self._host_bytes(batch, height, width) if self.device.type == "cpu" else 0
        return auto_tile_size(
            height,
            width,
            self._memory_model(self._dtype_for(deep)),
            free_memory_bytes(self.device),
            batch=batch,
            reserved_bytes=reserved,
            device_type=self.device.type,
        )

    # ------------------------------------------------------------------ planes

    def _output_size(self, height: int, width: int) -> tuple[int, int]:
        if self.outscale is None:
            return height * self.scale, width * self.scale
        return max(1, round(height * self.outscale)), max(1, round(width * self.outscale))

    def upscale_planes(self, colour: Tensor, alpha: Tensor | None, *, deep: bool = False) -> tuple[Tensor, Tensor | None]:
        """Upscale host float planes in [0, 255]; the core of :meth:`upscale_array`.

        Shape: (B, 3, H, W), (B, 1, H, W) or None -> (B, 3, H', W'), (B, 1, H', W') or None, float32 on the
        host, unclipped, with (H', W') = scale * (H, W) or the ``outscale`` size.
        """
        batch, _, height, width = colour.shape
        if alpha is not None:
            colour = fill_transparent_colour(colour, alpha)
        upscaled = tiled_forward(
            self._runner(deep),
            colour,
            scale=self.scale,
            tile=self.tile_for(height, width, batch, deep),
            overlap=self.overlap,
            device=self.device,
            dtype=self._dtype_for(deep),
            memory_format=self.memory_format,
            progress=self.progress,
        )
        upscaled_alpha = None
        if alpha is not None:
            upscaled_alpha = tiled_forward(
                FloatBicubic(self.scale), alpha.to(torch.float32), scale=self.scale, tile=_ALPHA_TILE,
                overlap=_ALPHA_OVERLAP,
            )
        out_height, out_width = self._output_size(height, width)
        upscaled = resize_to(upscaled, out_height, out_width)
        if upscaled_alpha is not None:
            upscaled_alpha = resize_to(upscaled_alpha, out_height, out_width)
        return upscaled, upscaled_alpha

    # ------------------------------------------------------------------ arrays

    def upscale_array(self, array: np.ndarray) -> np.ndarray:
        """Upscale one image array; the result has the input's dtype and channel layout.

        Accepts (H, W), (H, W, 1), (H, W, 2) grey + alpha, (H, W, 3) RGB and (H, W, 4) RGBA, as uint8, uint16
        or float in [0, 1].

        Shape: (H, W[, C]) -> (s*H, s*W[, C]) with s = ``outscale`` or ``scale``.
        """
        fmt = PixelFormat.of(array)
        colour, alpha = to_planes(array)
        upscaled, upscaled_alpha = self.upscale_planes(
            colour[None], None if alpha is None else alpha[None], deep=fmt.deep
        )
        return from_planes(upscaled[0], None if upscaled_alpha is None else upscaled_alpha[0], fmt)

    def _largest_whole_batch(self, count: int, height: int, width: int, deep: bool) -> int:
        """How many (height, width) images go through one untiled forward together (0: they need tiles)."""
        if self.tile is None:
            return count
        if self.tile != "auto":
            return count if self.tile >= max(height, width) else 0
        batch = count
        while batch >= 1 and self.tile_for(height, width, batch, deep) is not None:
            batch //= 2
        return batch

    def upscale_batch(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Upscale many arrays; equal-sized ones of one layout and dtype share untiled forwards.

        Images that need tiling go one by one. The results are in the input order and equal those of
        :meth:`upscale_array` up to float rounding in the batched convolutions.
        """
        results: list[np.ndarray | None] = [None] * len(arrays)
        groups: dict[tuple[Any, ...], list[int]] = {}
        for index, array in enumerate(arrays):
            fmt = PixelFormat.of(array)
            groups.setdefault((fmt.dtype.str, fmt.channels, fmt.height, fmt.width), []).append(index)
        for (_, _, height, width), indices in groups.items():
            fmt = PixelFormat.of(arrays[indices[0]])
            per_forward = self._largest_whole_batch(len(indices), height, width, fmt.deep)
            if per_forward <= 1:
                for index in indices:
                    results[index] = self.upscale_array(arrays[index])
                continue
            for start in range(0, len(indices), per_forward):
                chunk = indices[start : start + per_forward]
                planes = [to_planes(arrays[index]) for index in chunk]
                colour = torch.stack([plane[0] for plane in planes])
                alpha = torch.stack([plane[1] for plane in planes]) if fmt.has_alpha else None
                upscaled, upscaled_alpha = self.upscale_planes(colour, alpha, deep=fmt.deep)
                for offset, index in enumerate(chunk):
                    results[index] = from_planes(
                        upscaled[offset], None if upscaled_alpha is None else upscaled_alpha[offset], fmt
                    )
        return [result for result in results if result is not None]

"""Run an SR network through onnxruntime behind the networks' PyTorch contract (the engine's onnxruntime backend).

:class:`OnnxRuntimeNetwork` takes and returns tensors exactly like the networks do (float RGB in [0, 255], not
clamped), so the engine's tiling, blending, self-ensemble and output conversion stay the same for both backends.
The graph is exported once per network and kept in the cache (``$RESTORE_CACHE/onnx``), keyed by the weights
and the versions that shape the graph, because an export takes tens of seconds.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import Tensor, nn

from restore.interop.onnx_export import INPUT_NAME, NETWORK_RANGE, OUTPUT_NAME, onnx_bytes
from restore.io.atomic import atomic_writer

__all__ = ["OnnxRuntimeNetwork", "cached_graph"]

# Bump when the exported graph of an unchanged network changes (the export path or its wrapper).
_GRAPH_VERSION = 1
_ALLOCATION_MESSAGES = ("failed to allocate", "bad_alloc", "out of memory")


class OnnxRuntimeNetwork:
    """A callable network running ``graph`` (bytes of an unclamped [0, 1] export) in onnxruntime on the CPU.

    ``threads``: onnxruntime's intra-op threads (default: torch's, so both backends use the same cores).
    An allocation failure is raised as ``MemoryError``, which the engine's tiling answers with smaller tiles.

    Shape: (B, 3, H, W) in [0, 255] -> (B, 3, s*H, s*W) in about [0, 255], float32 on the CPU.
    """

    def __init__(self, graph: bytes, threads: int | None = None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        self.session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    def __call__(self, x: Tensor) -> Tensor:
        lr = (x.to(torch.float32) / NETWORK_RANGE).contiguous().numpy()
        try:
            sr = self.session.run([OUTPUT_NAME], {INPUT_NAME: lr})[0]
        except Exception as error:  # noqa: BLE001 - onnxruntime's errors share one class; allocation ones matter
            if any(text in str(error).lower() for text in _ALLOCATION_MESSAGES):
                raise MemoryError(f"onnxruntime: {str(error).splitlines()[0]}") from error
            raise
        return torch.from_numpy(sr).mul_(NETWORK_RANGE)


def cached_graph(network: nn.Module, scale: int, cache: Path) -> bytes:
    """The unclamped ONNX graph of ``network`` from ``cache``, exported (and checked) on the first call."""
    import onnx
    import onnxruntime

    digest = hashlib.sha256()
    versions = (_GRAPH_VERSION, scale, torch.__version__, onnx.__version__, onnxruntime.__version__)
    digest.update(repr((type(network).__qualname__, versions)).encode())
    for name, tensor in network.state_dict().items():
        digest.update(name.encode())
        digest.update(repr((tuple(tensor.shape), str(tensor.dtype))).encode())
        digest.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    path = cache / "onnx" / f"{digest.hexdigest()[:32]}.onnx"
    if path.is_file():
        return path.read_bytes()
    graph = onnx_bytes(network, scale, clamp=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path) as stream:
        stream.write(graph)
    return graph

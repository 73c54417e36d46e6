"""``restore export``: write a super-resolution model as an ONNX graph (a thin shell over restore.interop.onnx_export)."""
from __future__ import annotations

import argparse

HELP = ("Export an SR model to ONNX: float32 NCHW RGB in [0, 1] in and out, any batch, height and width "
        "(mean shift and pixel range inside the graph), checked against PyTorch in onnxruntime before writing.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from restore.interop.onnx_export import DEFAULT_OPSET

    parser.add_argument("model", metavar="MODEL_OR_FILE",
                        help="a zoo model (rcan-compact, ...), a paper arch (rcan, rdn, rnan, san) with --weights, or "
                        "a checkpoint file (arch, scale and configuration recognised from its tensors)")
    parser.add_argument("--scale", type=int, help="upscaling factor (a model name needs it; a file brings its own)")
    parser.add_argument("--onnx", required=True, metavar="OUT.onnx", help="where to write the graph (atomically)")
    parser.add_argument("--weights", metavar="FILE", help="checkpoint for models whose weights do not ship (strict load)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, metavar="N",
                        help=f"ONNX opset version (default: {DEFAULT_OPSET})")


def run(args: argparse.Namespace) -> int:
    from restore.interop.onnx_export import export_model

    path = export_model(args.model, args.scale, args.onnx, weights=args.weights, opset=args.opset)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB): input 'lr' and output 'sr', float32 RGB in [0, 1]")
    return 0

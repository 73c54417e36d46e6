"""BasicSR interop and a light ``import restore``."""
from __future__ import annotations

import subprocess
import sys

import torch


def test_import_restore_is_light():
    code = "import restore, sys; print(sorted(m for m in ('torch', 'basicsr', 'cv2', 'gradio') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_basicsr_option_builds_our_archs():
    from restore.interop.basicsr_archs import basicsr_names, register_basicsr_archs

    register_basicsr_archs()
    register_basicsr_archs()  # idempotent
    from basicsr.archs import build_network

    assert "RCAN" in __import__("basicsr.utils.registry", fromlist=["ARCH_REGISTRY"]).ARCH_REGISTRY
    for arch, name in basicsr_names().items():
        hyper = {"rdn": {"G0": 8, "D": 2, "C": 2, "G": 4}, "rnan": {"n_resgroups": 3, "n_feats": 8}}.get(
            arch, {"n_resgroups": 1, "n_resblocks": 1, "n_feats": 8, "reduction": 4}
        )
        net = build_network({"type": name, "scale": 2, **hyper})
        assert type(net).__module__.startswith("restore.archs")
        assert net(torch.rand(1, 3, 8, 8) * 255).shape == (1, 3, 16, 16)

"""Loads the field's own pure-PyTorch references of the recurrent families without importing the
packages that hold them, whose top levels need Triton or CUDA extensions:

- flash-linear-attention (PyPI fla-core, installed from tools/requirements.txt): the naive forms
  in fla/ops/<family>/naive.py, loaded by path from the installed package;
- mamba_ssm (its source distribution, unpacked in .cache/reference by fetch_reference_sources.py):
  selective_scan_ref (ops/selective_scan_interface.py) and ssd_minimal_discrete
  (modules/ssd_minimal.py), loaded by path with the CUDA/Triton modules they import stubbed out
  for the duration of the load (the reference functions never call them).

Nothing here is copied from those packages."""

import importlib.util
import sys
import types
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAMBA_DIR = ROOT / ".cache" / "reference" / "mamba_ssm-2.3.2.post1"


def _load(path: Path, name: str):
    if not path.is_file():
        raise SystemExit(f"family_references: {path} is missing; run scripts/setup")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fla_naive(family: str):
    """fla/ops/<family>/naive.py of the installed fla-core, without running fla/__init__.py."""
    spec = importlib.util.find_spec("fla")  # a top-level find_spec does not import the package
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("family_references: fla-core is not installed; run scripts/setup")
    return _load(Path(spec.submodule_search_locations[0]) / "ops" / family / "naive.py", f"fla_naive_{family}")


@contextmanager
def _stubbed_modules(stubs: dict):
    saved = {name: sys.modules.get(name) for name in stubs}
    sys.modules.update(stubs)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def _mamba_stubs() -> dict:
    """Stand-ins for the modules the two reference files import at their top but never call:
    the CUDA extension, the Triton kernels and the package __init__ that imports them all."""
    def stub(name, **attrs):
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        return module

    package = stub("mamba_ssm", __path__=[str(MAMBA_DIR / "mamba_ssm")])
    utils_torch = _load(MAMBA_DIR / "mamba_ssm" / "utils" / "torch.py", "mamba_ssm.utils.torch")
    return {
        "mamba_ssm": package,
        "mamba_ssm.utils": stub("mamba_ssm.utils", torch=utils_torch),
        "mamba_ssm.utils.torch": utils_torch,
        "mamba_ssm.ops": stub("mamba_ssm.ops"),
        "mamba_ssm.ops.triton": stub("mamba_ssm.ops.triton"),
        "mamba_ssm.ops.triton.layer_norm": stub("mamba_ssm.ops.triton.layer_norm", _layer_norm_fwd=None),
        "mamba_ssm.ops.triton.ssd_combined": stub("mamba_ssm.ops.triton.ssd_combined", mamba_chunk_scan_combined=None),
        "selective_scan_cuda": stub("selective_scan_cuda"),
    }


def mamba_references():
    """(selective_scan_ref, ssd_minimal_discrete) from mamba_ssm's source distribution."""
    with _stubbed_modules(_mamba_stubs()):
        scan = _load(MAMBA_DIR / "mamba_ssm" / "ops" / "selective_scan_interface.py", "mamba_ref_selective_scan")
        ssd = _load(MAMBA_DIR / "mamba_ssm" / "modules" / "ssd_minimal.py", "mamba_ref_ssd_minimal")
    return scan.selective_scan_ref, ssd.ssd_minimal_discrete

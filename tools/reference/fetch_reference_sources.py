#!/usr/bin/env python3
"""Downloads the source distributions pinned in reference_sources.txt with pip (--no-deps,
--no-binary :all:) and unpacks each into .cache/reference/<name>-<version>/. Idempotent and quiet
when everything is in place. Called by scripts/setup; the golden-file scripts only read the cache."""

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "reference"
PINS = Path(__file__).with_name("reference_sources.txt")


def pins():
    for line in PINS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            yield name.strip(), version.strip()


def unpacked_dir(name: str, version: str) -> Path:
    return CACHE / f"{name.replace('-', '_')}-{version}"


def fetch(name: str, version: str) -> None:
    dest = unpacked_dir(name, version)
    if (dest / ".complete").exists():
        return
    print(f"fetch_reference_sources: downloading {name}=={version} (source only)", file=sys.stderr)
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        # pip prepares the sdist's metadata by running its setup.py; mamba-ssm's then skips CUDA,
        # and without build isolation pip does not fetch a build-time torch.
        env = dict(os.environ, MAMBA_SKIP_CUDA_BUILD="TRUE", CAUSAL_CONV1D_SKIP_CUDA_BUILD="TRUE")
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
                        "--no-binary", ":all:", "--no-build-isolation", f"{name}=={version}", "-d", tmp],
                       check=True, env=env)
        archives = list(Path(tmp).glob("*.tar.gz"))
        if len(archives) != 1:
            raise SystemExit(f"fetch_reference_sources: expected one sdist for {name}, got {archives}")
        with tarfile.open(archives[0]) as tar:
            top = {m.name.split("/", 1)[0] for m in tar.getmembers()}
            if len(top) != 1 or any(m.name.startswith("/") or ".." in m.name.split("/") for m in tar.getmembers()):
                raise SystemExit(f"fetch_reference_sources: unexpected layout in {archives[0].name}")
            tar.extractall(tmp)
        if dest.exists():
            subprocess.run(["rm", "-rf", str(dest)], check=True)
        (Path(tmp) / top.pop()).rename(dest)
    (dest / ".complete").write_text(f"{name}=={version}\n")


def main() -> None:
    for name, version in pins():
        fetch(name, version)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""End-to-end tests of the `mnemo` CLI: run, bench, plugins, model-info and --help on real and
tiny models, and bad input (truncated, corrupted, hostile or foreign files, sessions claiming
absurd shapes, a broken plugin) that must give one clear error naming the file, a non-zero exit,
and never a crash, hang or huge allocation."""

import argparse
import json
import os
import resource
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

PASSED, FAILED = [], []


def check(name, ok, detail=""):
    (PASSED if ok else FAILED).append(name)
    if not ok:
        print(f"FAIL {name}: {detail}", file=sys.stderr)
    return ok


def limit_memory():
    # A hostile file must not make the CLI allocate wildly: cap the address space at 4 GiB.
    # (Not under AddressSanitizer, which reserves terabytes of shadow address space; ASan's own
    # allocator limit applies there instead.)
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def mnemo(args, timeout=120):
    p = subprocess.run([MNEMO, *args], capture_output=True, text=True, timeout=timeout * TIME_SCALE,
                       preexec_fn=None if SANITIZED else limit_memory, errors="replace")
    return p.returncode, p.stdout, p.stderr


def expect_clean_error(name, args, must_mention):
    try:
        rc, out, err = mnemo(args, timeout=60)
    except subprocess.TimeoutExpired:
        check(name, False, "hung")
        return
    ok = rc in (1, 2) and must_mention in err and "error" in err.lower() and len(err.strip().splitlines()) <= 3
    check(name, ok, f"rc={rc} stderr={err.strip()[:400]!r}")


def gguf_bytes(path):
    return bytearray(Path(path).read_bytes())


def bad_inputs(tmp: Path, tiny: Path, repo: Path):
    """Yields (label, path, phrase the error must contain)."""
    good = gguf_bytes(tiny / "llama-gguf" / "model.gguf")

    def write(name, data):
        p = tmp / name
        p.write_bytes(bytes(data))
        return p

    yield "empty file", write("empty.gguf", b""), "empty.gguf"
    yield "wrong magic", write("magic.gguf", b"GGUX" + good[4:]), "magic.gguf"
    yield "text file", write("notes.txt", b"hello world\n" * 10), "notes.txt"
    for cut in (8, 24, 100, len(good) // 2, len(good) - 1):
        yield f"truncated at {cut}", write(f"trunc{cut}.gguf", good[:cut]), f"trunc{cut}.gguf"
    huge = bytearray(good)
    struct.pack_into("<Q", huge, 8, 1 << 62)  # tensor count
    yield "absurd tensor count", write("tensors.gguf", huge), "tensors.gguf"
    huge = bytearray(good)
    struct.pack_into("<Q", huge, 16, 1 << 60)  # kv count
    yield "absurd kv count", write("kvs.gguf", huge), "kvs.gguf"
    version = bytearray(good)
    struct.pack_into("<I", version, 4, 99)
    yield "future version", write("version.gguf", version), "version.gguf"
    # A Hugging Face folder with problems.
    folder = tmp / "hf-bad-config"
    shutil.copytree(tiny / "llama-hf", folder)
    (folder / "config.json").write_text("{\"model_type\": \"llama\", \"num_hidden_layers\": ")
    yield "malformed config.json", folder, "config.json"
    folder = tmp / "hf-missing-tensor"
    shutil.copytree(tiny / "bert-hf", folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["num_hidden_layers"] = cfg["num_hidden_layers"] + 1
    (folder / "config.json").write_text(json.dumps(cfg))
    yield "missing tensors", folder, "encoder.layer.2"
    folder = tmp / "hf-absurd-dims"
    shutil.copytree(tiny / "llama-hf", folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["hidden_size"] = 1 << 40
    (folder / "config.json").write_text(json.dumps(cfg))
    yield "absurd dimensions", folder, "hidden_size"
    folder = tmp / "hf-bad-tokenizer"
    shutil.copytree(tiny / "bert-hf", folder)
    (folder / "tokenizer.json").write_bytes(b"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"\xff\xfe\": 0}}}")
    yield "bad UTF-8 in tokenizer", folder, "tokenizer.json"
    folder = tmp / "hf-unknown-arch"
    shutil.copytree(tiny / "llama-hf", folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["model_type"] = "rwkv7"
    (folder / "config.json").write_text(json.dumps(cfg))
    yield "unserved architecture", folder, "rwkv7"
    yield "missing path", tmp / "does-not-exist.gguf", "does-not-exist.gguf"


def bad_numbers(smol: Path, tmp: Path):
    """Numbers out of their option's range or not finite: refused by name with exit 2 before anything runs,
    never cast down to a narrower type (--top-k 4294967296 was 0, "all") or let through (nan, inf)."""
    model = ["--model", str(smol), "--prompt", "x"]
    out = str(tmp / "never-written.mnemo")  # were a value let through, the recording would go here
    cases = [
        (["run", *model, "--temperature", "nan"], "--temperature: nan is not a finite number"),
        (["run", *model, "--temperature", "inf"], "--temperature: inf is not a finite number"),
        (["run", *model, "--temperature", "-1"], "--temperature: -1 is out of range [0, 100]"),
        (["run", *model, "--top-p", "nan"], "--top-p: nan is not a finite number"),
        (["run", *model, "--top-p", "0"], "--top-p: 0 is out of range (0, 1]"),
        (["run", *model, "--top-p", "1.5"], "--top-p: 1.5 is out of range (0, 1]"),
        (["run", *model, "--top-k", "4294967296"], "--top-k: 4294967296 is out of range (0..2147483647)"),
        (["run", *model, "--seed", "-1"], "--seed: -1 is out of range"),
        (["run", *model, "-n", "99999999999999999999"], "--n-predict: 99999999999999999999 is out of range"),
        (["record", *model, "--out", out, "--temperature", "inf"], "--temperature: inf is not a finite number"),
        (["record", *model, "--out", out, "--top-p", "nan"], "--top-p: nan is not a finite number"),
        (["record", *model, "--out", out, "--pyramid-level", "4294967297"], "--pyramid-level: 4294967297 is out of range (1..16)"),
        (["bench", "--model", str(smol), "--prefill", "9223372036854775807"], "--prefill: 9223372036854775807 is out of range"),
        (["bench", "--model", str(smol), "--repeat", "0"], "--repeat: 0 is out of range"),
        (["run", *model, "--threads", "4294967297"], "--threads: 4294967297 is out of range (0.."),
    ]
    for args, phrase in cases:
        rc, out, err = mnemo(args)
        check(f"refuses {' '.join(args[:1] + args[-2:])}", rc == 2 and phrase in err and "usage" not in err,
              f"rc={rc} err={err.strip()[:300]!r}")
    # Under a 4 GB address space (the CLI tests' own limit, ulimit -v 4000000) 500 threads' stacks do
    # not fit: refused by name, never "terminate called without an active exception".
    rc, out, err = mnemo(["run", *model, "-n", "1", "--threads", "500"])
    check("--threads 500 under a 4 GB address space is a clear error", rc in (1, 2) and "thread" in err
          and "terminate" not in err, f"rc={rc} err={err.strip()[:300]!r}")
    rc, out, err = mnemo(["run", "--help"])
    check("run --help documents the --threads limit", "at most" in out and "4 per core" in out, out)


def check_absurd_sessions(tiny: Path):
    """Sessions whose run claims shapes no model has (damaged or hostile): `info`, `stats` and `tile`
    refuse them with one error naming the file, the run and the field, under the 4 GiB address-space
    cap, instead of sizing anything from the claim."""
    with tempfile.TemporaryDirectory() as d:
        good = Path(d, "good.mnemo")
        rc, _, err = mnemo(["record", "--quiet", "--model", str(tiny / "llama-gguf" / "model.gguf"), "--prompt",
                            "The cat sat on the mat", "-n", "2", "--threads", "1", "--out", str(good)])
        if not check("record a tiny session", rc == 0 and good.exists(), err.strip()[:400]):
            return
        cases = [("UPDATE _run SET n_layers = 100000", "n_layers = 100000"),
                 ("UPDATE _run SET n_layers = 2147483647", "n_layers = 2147483647"),
                 ("UPDATE _run SET n_heads = 2147483647", "n_heads = 2147483647"),
                 ("UPDATE _run SET n_heads = 100000, n_kv_heads = 1", "n_heads = 100000")]
        for n, (sql, field) in enumerate(cases):
            bad = Path(d, f"absurd{n}.mnemo")
            shutil.copy(good, bad)
            db = sqlite3.connect(bad)
            db.execute(sql)
            db.commit()
            db.close()
            for args in (["info", str(bad)], ["info", str(bad), "--json"], ["stats", str(bad)],
                         ["tile", str(bad), "--layer", "0", "--head", "0", "--npy", str(Path(d, "tile.npy"))]):
                rc, _, err = mnemo(args, timeout=60)
                ok = (rc == 1 and str(bad) in err and f"run 1 claims {field}" in err and
                      len(err.strip().splitlines()) <= 3)
                check(f"session claiming {field}: mnemo {' '.join(a for a in args if a.startswith('-') or a == args[0])}",
                      ok, f"rc={rc} stderr={err.strip()[:400]!r}")
        rc, _, err = mnemo(["tile", str(good), "--layer", "0", "--head", "0", "--npy", str(Path(d, "tile.npy"))])
        check("the undamaged tiny session tiles", rc == 0, err.strip()[:400])


SANITIZED = False
TIME_SCALE = 1


def eval_bad_inputs(tiny: Path, repo: Path, tmp: Path):
    """`mnemo eval`: one clear error for a model that is not a task model, an unknown task or
    length, and held-out files that are malformed or whose answers lie past their text."""
    tasks_dir = repo / "assets" / "tasks"
    llama = tiny / "llama-hf"
    rc, _, err = mnemo(["eval", "--model", str(llama), "--task", "mqar", "--tasks-dir", str(tasks_dir), "--n", "1",
                        "--length", "4"])
    check("eval refuses a model whose tokenizer is not the tasks'", rc == 1 and "not a task model" in err, err)
    rc, _, err = mnemo(["eval", "--model", str(llama), "--task", "nope", "--tasks-dir", str(tasks_dir)])
    check("eval names an unknown task", rc == 1 and "no held-out sets of a task named 'nope'" in err, err)
    rc, _, err = mnemo(["eval", "--model", str(llama), "--task", "mqar", "--tasks-dir", str(tasks_dir), "--length", "5"])
    check("eval lists the lengths there are", rc == 2 and "lengths 4, 8, 16, 32, 64" in err, err)
    (tmp / "mqar").mkdir()
    bad = tmp / "mqar" / "heldout-4.jsonl"
    for label, text, phrase in [
            ("not JSON", "{not json\n", "heldout-4.jsonl:1: not a JSON object"),
            ("no answers field", json.dumps({"task": "mqar", "length": 4, "text": "k1 v1"}) + "\n", ":1: an example needs"),
            ("answers out of order", json.dumps({"task": "mqar", "length": 4, "text": "k1 v1 k1 v1",
                                                 "answers": [3, 1]}) + "\n", "ascending"),
            ("mixed lengths", json.dumps({"task": "mqar", "length": 4, "text": "k1 v1", "answers": [1]}) + "\n" +
             json.dumps({"task": "mqar", "length": 8, "text": "k1 v1", "answers": [1]}) + "\n", ":2: an example of mqar"),
            ("empty", "", "no examples")]:
        bad.write_text(text)
        rc, _, err = mnemo(["eval", "--model", str(llama), "--task", "mqar", "--tasks-dir", str(tmp)])
        check(f"eval: held-out file {label}", rc == 1 and phrase in err and str(bad) in err, err)


def record_task_prompt_bad_inputs(tiny: Path, repo: Path, tmp: Path):
    """`record --task-prompt`: refused beside --prompt, a malformed file is named with what is
    wrong, and a model whose tokenizer is not the tasks' is refused before anything is recorded."""
    llama = str(tiny / "llama-hf")
    prompt = str(repo / "assets" / "prompts" / "mqar.task.json")
    out = tmp / "task.mnemo"
    rc, _, err = mnemo(["record", "--model", llama, "--task-prompt", prompt, "--prompt", "x", "-o", str(out)])
    check("record: --task-prompt beside --prompt", rc == 2 and "one of --prompt, --prompt-file and --task-prompt" in err, err)
    bad = tmp / "bad.task.json"
    for label, text, phrase in [
            ("not JSON", "{not json", "not JSON"),
            ("no answers", json.dumps({"task": "mqar", "length": 4, "text": "k1 v1"}), "an example needs"),
            ("answers out of order", json.dumps({"task": "mqar", "length": 4, "text": "k1 v1 k1 v1", "answers": [3, 1]}),
             "ascending")]:
        bad.write_text(text)
        rc, _, err = mnemo(["record", "--model", llama, "--task-prompt", str(bad), "-o", str(out)])
        check(f"record: task prompt {label}", rc != 0 and phrase in err and str(bad) in err, err)
    rc, _, err = mnemo(["record", "--model", llama, "--task-prompt", prompt, "-n", "1", "--threads", "1", "-q",
                        "-o", str(out)])
    check("record: a task prompt on a model that is not a task model", rc == 1 and "not a task model" in err, err)


def record_several_models(tiny: Path, tmp: Path):
    """`record --model A --model B`: one session, one run per model in order, each labelled by its
    file or folder name; an option that is not repeatable, given twice, is an error."""
    out = tmp / "several.mnemo"
    rc, stdout, err = mnemo(["record", "-q", "--model", str(tiny / "llama-hf"), "--model", str(tiny / "gpt2-gguf" / "model.gguf"),
                             "--prompt", "The cat", "-n", "2", "--temperature", "0", "--threads", "1", "--out", str(out)])
    check("record with two models", rc == 0 and "recorded run 2" in err, err[-400:])
    if rc == 0:
        runs = sqlite3.connect(out).execute("SELECT run_id, label, architecture FROM _run ORDER BY run_id").fetchall()
        check("record with two models: one run each, labelled, in order",
              runs == [(1, "llama-hf", "llama"), (2, "model.gguf", "gpt2")], str(runs))
    rc, _, err = mnemo(["run", "--model", str(tiny / "llama-hf"), "--model", str(tiny / "llama-hf"), "--prompt", "x"])
    check("run refuses --model twice", rc == 2 and "--model given twice" in err, err)


def main():
    global MNEMO, SANITIZED, TIME_SCALE
    ap = argparse.ArgumentParser()
    ap.add_argument("--mnemo", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--tiny-dir", required=True)
    ap.add_argument("--sanitized", action="store_true", help="the binary is built with ASan/UBSan")
    a = ap.parse_args()
    MNEMO = a.mnemo
    SANITIZED = a.sanitized
    TIME_SCALE = 5 if SANITIZED else 1
    if SANITIZED:  # cap what one allocation may ask for instead of the address space
        os.environ["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + ":allocator_may_return_null=0:max_allocation_size_mb=4096"
    repo, tiny = Path(a.repo), Path(a.tiny_dir)
    smol = repo / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    minilm = repo / "models" / "all-MiniLM-L6-v2"

    # run: the done-when command of the engine milestone.
    rc, out, err = mnemo(["run", "--model", str(smol), "--prompt", "The capital of France is", "-n", "8", "--temperature", "0"])
    check("run SmolLM2 greedy", rc == 0 and out.startswith(" Paris."), f"rc={rc} out={out!r} err={err!r}")
    rc1, out1, _ = mnemo(["run", "--model", str(smol), "--prompt", "Once upon a time", "-n", "12", "--seed", "7"])
    rc2, out2, _ = mnemo(["run", "--model", str(smol), "--prompt", "Once upon a time", "-n", "12", "--seed", "7"])
    check("run seeded sampling is reproducible", rc1 == 0 and rc2 == 0 and out1 == out2 and out1.strip(), f"{out1!r} vs {out2!r}")
    rc, out, err = mnemo(["run", "--model", str(tiny / "gpt2-hf"), "--prompt", "The cat", "-n", "4", "--temperature", "0", "--threads", "1"])
    check("run a Hugging Face folder", rc == 0, err)
    rc, out, err = mnemo(["run", "--model", str(minilm), "--prompt", "hello"])
    check("run refuses an encoder", rc == 2 and "encoder" in err, err)

    rc, out, err = mnemo(["bench", "--model", str(smol), "--prefill", "32", "--decode", "4", "--repeat", "1", "--json"])
    try:
        j = json.loads(out)
        # The OpenBLAS kernels in use are reported (mnemo/core/blas_core.h): never the generic ones here.
        ok = (rc == 0 and j["prefill_tokens_per_s"] > 0 and j["decode_tokens_per_s"] > 0 and
              j["blas_core"].lower() not in ("", "prescott", "nehalem", "core2") and j["blas_core_chosen_by"])
    except Exception as e:  # noqa: BLE001
        ok, err = False, f"{e}: {out!r} {err!r}"
    check("bench --json", ok, err)

    rc, out, err = mnemo(["plugins", "--json"])
    try:
        plugins = {p["id"]: p for p in json.loads(out)["plugins"]}
        t = plugins["transformer"]
        ok = rc == 0 and t["status"] == "ok" and t["abi"] == "2.0" and {"gpt2", "llama", "bert"} <= set(t["architectures"])
        families = {"linear": {"linear_attn", "retnet", "gla", "delta_net", "gated_deltanet"}, "mamba": {"mamba", "mamba2"}}
        for pid, archs in families.items():
            ok = ok and plugins[pid]["status"] == "ok" and plugins[pid]["abi"] == "2.1" and archs == set(plugins[pid]["architectures"])
        ok = ok and plugins["rmt"]["status"] == "ok" and plugins["rmt"]["abi"] == "2.2" and plugins["rmt"]["architectures"] == ["rmt", "armt"]
        for pid in ("infini", "titans"):
            ok = ok and plugins[pid]["status"] == "ok" and plugins[pid]["abi"] == "2.2" and plugins[pid]["architectures"] == [pid]
    except Exception as e:  # noqa: BLE001
        ok, err = False, f"{e}: {out!r}"
    check("plugins --json", ok, err)
    with tempfile.TemporaryDirectory() as d:
        Path(d, "future.json").write_text(json.dumps({"id": "future", "version": "3.0.0", "abi": {"major": 3, "minor": 1},
                                                      "library": "future.so", "architectures": ["x"]}))
        Path(d, "old.json").write_text(json.dumps({"id": "old", "version": "1.0.0", "abi": {"major": 1, "minor": 1},
                                                   "library": "old.so", "architectures": ["x"]}))
        env_rc = subprocess.run([MNEMO, "plugins", "--json"], capture_output=True, text=True,
                                env={**os.environ, "MNEMOSCOPE_PLUGIN_PATH": d})
        plugins = {p["id"]: p for p in json.loads(env_rc.stdout)["plugins"]}
        ok = (plugins["future"]["status"] == "failed" and "3.1" in plugins["future"]["error"] and "2.2" in plugins["future"]["error"]
              and plugins["old"]["status"] == "failed" and "1.1" in plugins["old"]["error"]
              and plugins["transformer"]["status"] == "ok")
        check("plugins reports an incompatible plugin and keeps the others", ok, env_rc.stdout)

    rc, out, err = mnemo(["model-info", str(smol), "--json"])
    try:
        j = json.loads(out)
        ok = (rc == 0 and j["architecture"] == "llama" and j["dimensions"]["layers"] == 30 and j["dimensions"]["kv_heads"] == 3
              and set(j["tensor_types"]) == {"f32", "q4_1", "q8_0"} and j["tokenizer"]["vocab_size"] == 49152)
    except Exception as e:  # noqa: BLE001
        ok, err = False, f"{e}: {out!r}"
    check("model-info SmolLM2", ok, err)
    rc, out, err = mnemo(["model-info", str(minilm)])
    check("model-info MiniLM", rc == 0 and "bert" in out and "wordpiece" in out, out + err)

    for cmd in ("run", "bench", "plugins", "model-info"):
        rc, out, err = mnemo([cmd, "--help"])
        check(f"{cmd} --help", rc == 0 and out.startswith("usage: mnemo " + cmd), out)
    rc, out, err = mnemo(["--help"])
    check("--help", rc == 0 and "commands:" in out, out)
    rc, out, err = mnemo(["frobnicate"])
    check("unknown command", rc == 2 and "unknown command" in err, err)
    rc, out, err = mnemo(["run", "--model", str(smol), "--prompt", "x", "--threads", "lots"])
    check("bad option value", rc == 2 and "--threads expects an integer" in err, err)
    rc, out, err = mnemo(["run", "--prompt", "x"])
    check("missing --model", rc == 2 and "--model" in err, err)
    with tempfile.TemporaryDirectory() as d:
        bad_numbers(smol, Path(d))

    # A broken plugin that claims llama and comes first on the search path must not stop a working
    # plugin from running the model.
    with tempfile.TemporaryDirectory() as d:
        Path(d, "evil.json").write_text(json.dumps({"id": "evil", "version": "6.6.6", "abi": {"major": 1, "minor": 0},
                                                    "library": "evil.so", "architectures": ["llama"]}))
        Path(d, "evil.so").write_bytes(b"not an ELF file\n" * 64)
        p = subprocess.run([MNEMO, "run", "--model", str(tiny / "llama-gguf" / "model.gguf"), "--prompt", "The cat",
                            "-n", "3", "--temperature", "0", "--threads", "1"], capture_output=True, text=True,
                           errors="replace", timeout=120 * TIME_SCALE, env={**os.environ, "MNEMOSCOPE_PLUGIN_PATH": d})
        check("run passes over a broken plugin that claims the architecture", p.returncode == 0, p.stderr.strip()[:400])

    check_absurd_sessions(tiny)
    with tempfile.TemporaryDirectory() as d:
        eval_bad_inputs(tiny, repo, Path(d))
    with tempfile.TemporaryDirectory() as d:
        record_several_models(tiny, Path(d))
    with tempfile.TemporaryDirectory() as d:
        record_task_prompt_bad_inputs(tiny, repo, Path(d))

    with tempfile.TemporaryDirectory() as d:
        for label, path, phrase in bad_inputs(Path(d), tiny, repo):
            expect_clean_error(f"bad input: {label} (run)", ["run", "--model", str(path), "--prompt", "hi", "-n", "2"], phrase)
            expect_clean_error(f"bad input: {label} (model-info)", ["model-info", str(path)], phrase)

    print(f"{len(PASSED)} passed, {len(FAILED)} failed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())

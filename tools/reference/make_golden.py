#!/usr/bin/env python3
"""Write golden outputs of the real models to tests/golden/ for the C++ tests.

SmolLM2-135M (GGUF Q4_1): per prompt, token ids, last-position logits, the
last-token hidden state after the last block (pre final norm) and after the
final norm, and a 32-token greedy continuation computed with prefill +
incremental decode through a KV cache.
all-MiniLM-L6-v2 (HF folder): per sentence, token ids, last hidden states [T, 384]
and the mean-pooled embedding.

Usage: make_golden.py [--repo DIR] [--only smollm2|minilm]
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mnemo_ref  # noqa: E402
from mnemo_ref import load_model, forward, greedy_generate  # noqa: E402
from mnemo_ref.forward import mean_pool  # noqa: E402
from mnemo_ref.tokenize import bpe_from_gguf_fields  # noqa: E402

SCRIPT = "tools/reference/make_golden.py"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM_DIR = "all-MiniLM-L6-v2"
N_GREEDY = 32

SMOLLM2_PROMPTS = {
    "capital": "The capital of France is",
    "story": "Once upon a time, there was a little",
    "digits": "Question: what is 12 + 30? Answer: 12 + 30 =",
    "chat": "<|im_start|>user\nName three primary colors.<|im_end|>\n<|im_start|>assistant\n",
}
MINILM_SENTENCES = {
    "cat": "The cat sits on the mat.",
    "inspect": "Mnemoscope inspects transformer internals, layer by layer!",
    "query": "How do I bake sourdough bread?",
}


def top2_margin(logits):
    top = np.partition(logits, -2)[-2:]
    return float(top[1] - top[0])


def save(array, golden_dir, rel):
    path = golden_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.ascontiguousarray(array, dtype=np.float32))
    return rel


def generator_info():
    return {"script": SCRIPT, "mnemo_ref_version": mnemo_ref.__version__, "numpy": np.__version__}


def make_smollm2(models_dir, golden_dir):
    model = load_model(models_dir / SMOLLM2_FILE)
    tokenizer = bpe_from_gguf_fields(model.metadata)
    eos = int(model.metadata["tokenizer.ggml.eos_token_id"])
    cases = []
    for name, prompt in SMOLLM2_PROMPTS.items():
        ids = tokenizer.encode(prompt).ids
        result = forward(model, ids)
        new_ids, step_logits = greedy_generate(model, ids, N_GREEDY, eos_id=eos)
        # The cached path must agree with the full forward's last position.
        assert int(np.argmax(result.logits[-1])) == new_ids[0]
        assert np.allclose(step_logits[0], result.logits[-1], atol=1e-4)
        cases.append({
            "name": name,
            "prompt": prompt,
            "token_ids": [int(i) for i in ids],
            "logits_last": save(result.logits[-1], golden_dir, f"smollm2/{name}.logits_last.npy"),
            "argmax_last": int(np.argmax(result.logits[-1])),
            "hidden_last_layer": save(result.last_layer_residual[-1], golden_dir, f"smollm2/{name}.hidden_last_layer.npy"),
            "hidden_final_norm": save(result.hidden[-1], golden_dir, f"smollm2/{name}.hidden_final_norm.npy"),
            "greedy_ids": new_ids,
            "greedy_text": tokenizer.decode(new_ids, skip_special_tokens=False),
            "greedy_step_margins": [round(top2_margin(l), 5) for l in step_logits],
        })
        print(f"[smollm2] {name}: {prompt!r} -> {cases[-1]['greedy_text']!r}", file=sys.stderr)
    manifest = {
        "format_version": 1,
        "model": SMOLLM2_FILE,
        "model_root": "models",
        "arch": "llama",
        "config": model.config.to_dict(),
        "generator": generator_info(),
        "tokenizer": {"source": "gguf tokenizer.ggml.* (byte-level BPE)", "pre": "smollm",
                      "pre_tokenizer": "Sequence[Digits(individual_digits=True), ByteLevel(add_prefix_space=False, use_regex=True)]",
                      "add_bos": False, "special_tokens_parsed": True},
        "greedy": {"n_new": N_GREEDY, "method": "prefill then 1-token decode steps with KV cache; argmax; stop after eos",
                   "eos_id": eos},
        "arrays": {"logits_last": "float32 [vocab]", "hidden_last_layer": "float32 [d_model], residual after last block, before output_norm",
                   "hidden_final_norm": "float32 [d_model], after output_norm"},
        "tolerances": {
            "f32_compute": {"logits_max_abs": 2e-2, "logits_rel_l2": 1e-3, "hidden_rel_l2": 1e-3,
                            "note": "engine dequantizes Q4_1/Q8_0 weights and computes in f32"},
            "quantized_activations": {"logits_max_abs": 0.5, "logits_cosine_min": 0.999,
                                      "note": "engine quantizes activations (e.g. Q8_1 dot products as llama.cpp)"},
            "greedy": "ids must match exactly up to the first step whose greedy_step_margins < 0.05; text likewise",
            "argmax_last": "must match exactly",
        },
        "cases": cases,
    }
    (golden_dir / "smollm2.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def make_minilm(models_dir, golden_dir):
    from tokenizers import Tokenizer
    folder = models_dir / MINILM_DIR
    model = load_model(folder)
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    cases = []
    for name, text in MINILM_SENTENCES.items():
        ids = tokenizer.encode(text).ids
        hidden = forward(model, ids).hidden
        cases.append({
            "name": name,
            "text": text,
            "token_ids": [int(i) for i in ids],
            "hidden": save(hidden, golden_dir, f"minilm/{name}.hidden.npy"),
            "hidden_shape": list(hidden.shape),
            "mean_pooled": save(mean_pool(hidden), golden_dir, f"minilm/{name}.mean_pooled.npy"),
        })
    manifest = {
        "format_version": 1,
        "model": MINILM_DIR,
        "model_root": "models",
        "arch": "bert",
        "config": model.config.to_dict(),
        "generator": generator_info(),
        "tokenizer": {"source": "tokenizer.json via tokenizers (BERT WordPiece, lowercase)", "adds": "[CLS] ... [SEP]",
                      "token_type_ids": 0},
        "arrays": {"hidden": "float32 [T, 384], last encoder layer output (post-LN)",
                   "mean_pooled": "float32 [384], mean of hidden over all T tokens (no L2 normalisation)"},
        "tolerances": {"hidden_max_abs": 1e-3, "mean_pooled_max_abs": 1e-4, "cosine_min": 0.99999},
        "cases": cases,
    }
    (golden_dir / "minilm.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[2])
    parser.add_argument("--only", choices=["smollm2", "minilm"])
    args = parser.parse_args()
    models_dir, golden_dir = args.repo / "models", args.repo / "tests" / "golden"
    golden_dir.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "minilm"):
        make_minilm(models_dir, golden_dir)
    if args.only in (None, "smollm2"):
        make_smollm2(models_dir, golden_dir)


if __name__ == "__main__":
    main()

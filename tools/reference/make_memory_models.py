#!/usr/bin/env python3
"""make_memory_models.py OUTDIR: tiny random Recurrent Memory Transformer (RMT), Associative RMT
(ARMT), Infini-attention and Titans neural-memory models, in the layouts the engine's rmt, infini
and titans plugins read, with the outputs of an independent reference (--size bench: wider models for benchmarks, no outputs).

The reference is Hugging Face transformers' own GPT2LMHeadModel and LlamaForCausalLM (eager
attention, fp32, eval) as the backbone, wrapped in the RMT memory cell as the paper (Bulatov et al.,
2022) and the authors' MemoryCell + RecurrentWrapper (booydar/recurrent-memory-transformer,
language_modeling.py) define it: the sequence is cut into segments of S tokens; segment s runs as
inputs_embeds = [mem_s; wte(tokens); mem_s] (a partial last segment has no write memory), at
positions 0..L-1; its token logits are rows M..M+n-1, and mem_{s+1} is the last M rows of the last
hidden states (after the final norm). mem_0 is the learned `memory` parameter.

ARMT (Rodkin et al., 2024) wraps every HF block as the authors' AssociativeLayerWrapper does
(RodkinIvan/associative-recurrent-memory-transformer, modeling_amt/language_modeling.py: DPFP with
nu = 3, the denominator z, the delta rule with the correction coefficient, one beta per memory
head): segment s runs as inputs_embeds = [wte(tokens); memory] at positions 0..S+M-1 (the learned
memory in every segment; a partial last segment has no memory rows and writes nothing, as the
authors' generate mode); before each block every row adds its read of that layer's associative
memory (once a segment has written), and after it the memory rows' outputs write it.
Infini-attention (Munkhdalai et al., 2024; written from the paper, its equations 1-6) replaces each
HF attention module by one that uses the module's own projections: causal softmax within the
segment (RoPE at positions 0..S-1 on Llama), plus the retrieval sigma(q) M / (sigma(q) z) from
the compressive memory of the segments before (sigma = ELU + 1, unrotated q and k, per KV head),
mixed as sigmoid(beta) A_mem + (1 - sigmoid(beta)) A_dot; segment 0 has no memory; a completed
segment adds sigma(K)^T V (linear) or sigma(K)^T (V - sigma(K) M / (sigma(K) z)) (delta).
Titans (neural_memory.py, written from the paper): a linear neural memory layer in front of every
HF block, updated token by token by a gradient step with momentum and forgetting.
Nothing here comes from the engine or mnemo_ref's forwards, so the C++ tests can judge the plugins
by it.

OUTDIR/<name>/      config.json (model_type "rmt", backbone, num_mem_tokens, segment_size, and the
                    backbone's Hugging Face config keys), model.safetensors (the backbone's tensors
                    under HF's state_dict names, plus `memory` [M][d]), tokenizer.json
                    ARMT: model_type "armt", d_mem, memory_heads, dpfp_nu, and per layer l
                    associative.l.{W_mq,W_mk,W_mv,W_mb}.weight, associative.l.W_mb.bias
                    Infini: model_type "infini", memory_update, and per layer l infini.l.gate [heads]
                    Titans: model_type "titans", memory_heads, memory_head_dim, memory_max_lr,
                    memory_norm_eps, and per layer l titans.l.* (neural_memory.tensor_shapes)
OUTDIR/expected/<name>.logits.npy          [N][vocab], every token position
OUTDIR/expected/<name>.memory.npy          RMT: [full segments + 1][M][d]: mem_0, mem_1, ...
OUTDIR/expected/<name>.segment_hidden.npy  RMT: [2M+S][d], segment 0's last hidden states (all rows)
OUTDIR/expected/<name>.writes.npy          ARMT: [full segments][layers][M][d], what each memory row
                                           wrote into the layer's memory: beta_j (v_j - v̄_j), per head
OUTDIR/expected/<name>.memory.npy          Infini: [full segments][layers][kv heads * d_k][d_v], each
                                           layer's memory M after each complete segment
OUTDIR/expected.json                       per model: path, input ids, segment_size,
                                           num_mem_tokens, files.

transformers lives apart, in .venv/hf-reference (tools/reference/requirements-hf.txt)."""

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
# The transformers that works with Debian's torch 1.13 is installed apart; put it first.
sys.path.insert(0, str(REPO / ".venv" / "hf-reference"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
import neural_memory  # noqa: E402
import tiny_tokenizers  # noqa: E402
import transformers  # noqa: E402
import transformers.models.llama.modeling_llama as llama_module  # noqa: E402
from mnemo_ref.writers import write_hf  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

PROMPT_TEXT = "The capital of France is Paris. The quick brown fox jumps over the lazy dog."
M, S = 4, 16
N_TOKENS = 56  # three full segments and a partial one of 8: reads, writes, and the no-write tail
# --size bench: the widths of small published models (d 512, 8 layers, head dimension 64) with the
# papers' segment and memory sizes, for benchmarks (bench/session/bench_recording.py --model);
# written without expected outputs (the test size is what the tests check).
BENCH = {"M": 16, "S": 512,
         "gpt2": dict(n_embd=512, n_layer=8, n_head=8, n_inner=2048, n_positions=2048),
         "llama": dict(hidden_size=512, num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=4,
                       intermediate_size=1536, max_position_embeddings=2048),
         "armt": dict(d_mem=64), "titans": dict(memory_heads=8, memory_head_dim=64)}

GPT2_KW = dict(n_embd=32, n_layer=2, n_head=4, n_inner=128, n_positions=64, activation_function="gelu_new",
               resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=True)
LLAMA_KW = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                intermediate_size=64, max_position_embeddings=64, rope_theta=10000.0, tie_word_embeddings=False)
# name: (kind, backbone, config class, model class, backbone config, memory settings (ARMT))
MODELS = {
    "rmt_gpt2": ("rmt", "gpt2", transformers.GPT2Config, transformers.GPT2LMHeadModel, GPT2_KW, {}),
    "rmt_llama": ("rmt", "llama", transformers.LlamaConfig, transformers.LlamaForCausalLM, LLAMA_KW, {}),
    # Two memory heads on GPT-2, the authors' default of one on Llama.
    "armt_gpt2": ("armt", "gpt2", transformers.GPT2Config, transformers.GPT2LMHeadModel, GPT2_KW,
                  dict(d_mem=8, memory_heads=2, dpfp_nu=3)),
    "armt_llama": ("armt", "llama", transformers.LlamaConfig, transformers.LlamaForCausalLM, LLAMA_KW,
                   dict(d_mem=8, memory_heads=1, dpfp_nu=3)),
    # Both update rules; GPT-2's fused projection and Llama's grouped KV heads with RoPE.
    "infini_gpt2": ("infini", "gpt2", transformers.GPT2Config, transformers.GPT2LMHeadModel, GPT2_KW,
                    dict(memory_update="linear")),
    "infini_llama": ("infini", "llama", transformers.LlamaConfig, transformers.LlamaForCausalLM, LLAMA_KW,
                     dict(memory_update="delta")),
    "infini_llama_linear": ("infini", "llama", transformers.LlamaConfig, transformers.LlamaForCausalLM, LLAMA_KW,
                            dict(memory_update="linear")),
    # Not cut into segments: the memory runs over the whole sequence, token by token.
    "titans_llama": ("titans", "llama", transformers.LlamaConfig, transformers.LlamaForCausalLM, LLAMA_KW,
                     dict(memory_heads=2, memory_head_dim=8, memory_max_lr=0.5, memory_norm_eps=1e-6)),
    "titans_gpt2": ("titans", "gpt2", transformers.GPT2Config, transformers.GPT2LMHeadModel, GPT2_KW,
                    dict(memory_heads=1, memory_head_dim=16, memory_max_lr=1.0, memory_norm_eps=1e-5)),
}
# PretrainedConfig's own keys that describe the model or its tokens; its other keys (generation
# and trainer defaults, labels) are the same for every model and say nothing to a loader.
GENERIC_KEPT = {"tie_word_embeddings", "torch_dtype", "bos_token_id", "eos_token_id", "pad_token_id",
                "transformers_version"}


class Maker:
    """Seeded normal weights (as make_family_models.py)."""

    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def normal(self, *shape, std=1.0, mean=0.0):
        return mean + std * torch.randn(*shape, generator=self.g)


def random_weights(m, model, backbone):
    """Seeded values for every parameter, by HF name. HF's own init (std 0.02) gives flat logits;
    these gains give peaked attention and logits spread over several units."""
    w = {}
    for name, p in model.named_parameters():  # tied lm_head is deduplicated here; buffers are not parameters
        shape = tuple(p.shape)
        if name.endswith("bias"):
            w[name] = m.normal(*shape, std=0.1)
        elif "ln_" in name or "norm" in name:
            w[name] = m.normal(*shape, std=0.1, mean=1.0)
        elif name.endswith(("wte.weight", "embed_tokens.weight")):
            w[name] = m.normal(*shape, std=0.5 if backbone == "gpt2" else 1.0)
        elif name.endswith("wpe.weight"):
            w[name] = m.normal(*shape, std=0.3)
        else:
            # GPT-2's Conv1D stores [in][out], nn.Linear [out][in]; q/k and the head get gain 2.
            n_in = shape[0] if backbone == "gpt2" else shape[1]
            gain = 2.0 if any(k in name for k in ("c_attn", "q_proj", "k_proj", "lm_head")) else 1.0
            w[name] = m.normal(*shape, std=gain / n_in ** 0.5)
    return w


def config_json(kind, backbone, cfg, memory_settings):
    """The rmt/armt keys, then the backbone's HF config keys as to_dict() writes them, less its
    architectures/model_type (the folder's model_type is rmt or armt) and PretrainedConfig's generic ones."""
    generic = transformers.PretrainedConfig().to_dict()
    own = {k: v for k, v in cfg.to_dict().items()
           if k not in ("architectures", "model_type") and (k not in generic or k in GENERIC_KEPT)}
    memory = {"num_mem_tokens": M} if kind in ("rmt", "armt") else {}
    segments = {"segment_size": S} if kind != "titans" else {}
    return {"model_type": kind, "backbone": backbone, **memory, **segments, **memory_settings, **own}


def rmt_forward(model, memory, ids):
    """The RMT recurrence over `ids` (list of N ids): logits [N][vocab], memories [full + 1][M][d],
    segment 0's last hidden states [L][d]."""
    wte = model.get_input_embeddings()
    mem, logits, mems, seg0 = memory[None], [], [memory], None
    for s0 in range(0, len(ids), S):
        seg = torch.tensor([ids[s0:s0 + S]])
        full = seg.shape[1] == S
        # Read memory first, write memory last; a partial segment writes nothing (the authors' MemoryCell
        # with write_mem=False), so nothing after it could read a memory it would leave.
        x = torch.cat([mem, wte(seg), mem] if full else [mem, wte(seg)], 1)
        out = model(inputs_embeds=x, output_hidden_states=True, use_cache=False)
        logits.append(out.logits[0, M:M + seg.shape[1]])
        # hidden_states[-1] is after ln_f (GPT2Model.forward) / model.norm (LlamaModel.forward) in 4.47.1:
        # both apply the final norm and then append it to all_hidden_states.
        last = out.hidden_states[-1][0]
        if seg0 is None:
            seg0 = last
        if full:
            mem = last[-M:][None]
            mems.append(mem[0])
    return torch.cat(logits), torch.stack(mems), seg0


def self_check(name, model, memory, ids, logits):
    """Cheap asserts that the recurrence is wired as meant."""
    seg = torch.tensor([ids[:S]])
    # (a) no memory rows: the inputs_embeds path is HF's plain forward on input_ids.
    plain = model(input_ids=seg, use_cache=False).logits
    embeds = model(inputs_embeds=model.get_input_embeddings()(seg), use_cache=False).logits
    assert torch.allclose(plain, embeds, atol=1e-6), f"{name}: inputs_embeds path differs from input_ids"
    # hidden_states[-1] is the final norm's output: the LM head alone turns it into the logits.
    out = model(input_ids=seg, output_hidden_states=True, use_cache=False)
    head = model.get_output_embeddings().weight
    assert torch.allclose(out.hidden_states[-1] @ head.T, out.logits, atol=1e-5), f"{name}: hidden_states[-1] pre-norm"
    # (b) a token changed in segment 0 reaches segment 1 only through the memory: segment 0's
    # earlier positions keep their logits, segment 1's change, and segment 1 rerun with the
    # changed mem_1 alone gives the changed logits.
    k = 10
    alt = list(ids)
    alt[k] = (alt[k] + 1) % model.config.vocab_size
    alt_logits, alt_mems, _ = rmt_forward(model, memory, alt)
    assert torch.equal(alt_logits[:k], logits[:k]), f"{name}: positions before the change moved"
    d1 = float((alt_logits[S:2 * S] - logits[S:2 * S]).abs().max())
    assert d1 > 1e-3, f"{name}: segment 1 does not see segment 0 through memory ({d1:.2e})"
    x = torch.cat([alt_mems[1][None], model.get_input_embeddings()(torch.tensor([ids[S:2 * S]])), alt_mems[1][None]], 1)
    rerun = model(inputs_embeds=x, use_cache=False).logits[0, M:M + S]
    assert torch.allclose(rerun, alt_logits[S:2 * S], atol=1e-5), f"{name}: segment 1 depends on more than mem_1"
    # The memory rows matter: segment 0 with a zero memory gives other logits.
    zero = torch.zeros(1, M, memory.shape[1])
    x0 = torch.cat([zero, model.get_input_embeddings()(seg), zero], 1)
    d0 = float((model(inputs_embeds=x0, use_cache=False).logits[0, M:M + S] - logits[:S]).abs().max())
    assert d0 > 1e-2, f"{name}: segment 0's logits ignore the memory ({d0:.2e})"
    return d1, d0


def dpfp(x, nu):
    """Deterministic parameter-free projection (Schlag et al., 2021), as the ARMT code applies it
    per memory head: y = [relu(x), relu(-x)], then y * roll(y, j) for j = 1..nu, concatenated."""
    y = torch.cat([torch.relu(x), torch.relu(-x)], -1)
    return torch.cat([y * torch.roll(y, j, dims=-1) for j in range(1, nu + 1)], -1)


class AssociativeBlock(torch.nn.Module):
    """One HF block with its layer's associative memory, as the ARMT paper and the authors'
    AssociativeLayerWrapper (use_denom, correction, gating off) define it."""

    def __init__(self, block, w, heads, nu):
        super().__init__()
        self.block, self.heads, self.nu = block, heads, nu
        self.wq, self.wk, self.wv, self.wb, self.bb = (w[k] for k in ("W_mq.weight", "W_mk.weight", "W_mv.weight",
                                                                        "W_mb.weight", "W_mb.bias"))
        self.writes = False
        self.reset()

    def reset(self):
        d_key = 2 * self.nu * self.wq.shape[0] // self.heads
        self.A = torch.zeros(self.heads, d_key, self.wv.shape[0] // self.heads)
        self.z = torch.zeros(self.heads, d_key)
        self.written = False
        self.writes_made = []

    def keys(self, x, w):
        """Per-head L2-normalised DPFP features of x @ w.T: [rows][H][d_key]."""
        return torch.nn.functional.normalize(dpfp((x @ w.T).reshape(x.shape[0], self.heads, -1), self.nu), dim=-1)

    def recall(self, keys):
        """(keys A) / (z . keys + 1e-5) per head, and the denominator: [rows][H][d/H], [rows][H][1]."""
        denom = torch.einsum("rhk,hk->rh", keys, self.z)[..., None] + 1e-5
        return torch.einsum("rhk,hkc->rhc", keys, self.A) / denom, denom

    def forward(self, hidden_states, *args, **kwargs):
        if self.written:
            read, _ = self.recall(self.keys(hidden_states[0], self.wq))
            hidden_states = hidden_states + read.reshape(hidden_states.shape)
        out = self.block(hidden_states, *args, **kwargs)
        if self.writes:
            self.write(out[0][0, -M:])
        return out

    def write(self, y):
        k = self.keys(y, self.wk)
        v = (y @ self.wv.T).reshape(y.shape[0], self.heads, -1)
        beta = torch.sigmoid(y @ self.wb.T + self.bb)
        if self.written:
            previous, denom = self.recall(k)
            gamma = torch.clamp(1 - denom / (torch.linalg.norm(k, dim=-1) ** 2)[..., None], 0, 1)
        else:
            previous, gamma = torch.zeros_like(v), torch.ones(*k.shape[:2], 1)
        delta = torch.einsum("mhk,mhc,mh->hkc", k, v - previous, beta)
        self.A = self.A + delta
        self.z = self.z + (gamma * k).sum(0)
        self.writes_made.append(((v - previous) * beta[..., None]).reshape(y.shape[0], -1))
        self.written = True


def associative_blocks(model):
    return model.transformer.h if hasattr(model, "transformer") else model.model.layers


def wrap_armt(model, tensors, settings):
    """Wraps every block of the HF model in place; `tensors` holds the associative.* tensors."""
    blocks = associative_blocks(model)
    for l in range(len(blocks)):
        w = {k[len(f"associative.{l}."):]: t for k, t in tensors.items() if k.startswith(f"associative.{l}.")}
        blocks[l] = AssociativeBlock(blocks[l], w, settings["memory_heads"], settings["dpfp_nu"])
    return model


def armt_forward(model, memory, ids):
    """The ARMT recurrence over `ids`: logits [N][vocab], writes [full segments][layers][M][d]."""
    blocks = associative_blocks(model)
    for b in blocks:
        b.reset()
    wte, logits = model.get_input_embeddings(), []
    for s0 in range(0, len(ids), S):
        seg = torch.tensor([ids[s0:s0 + S]])
        full = seg.shape[1] == S
        for b in blocks:
            b.writes = full
        x = torch.cat([wte(seg), memory[None]], 1) if full else wte(seg)
        logits.append(model(inputs_embeds=x, use_cache=False).logits[0, :seg.shape[1]])
    writes = torch.stack([torch.stack(b.writes_made) for b in blocks], 1)
    return torch.cat(logits), writes


def layer_memory_self_check(name, model, ids, logits, run, reset):
    """For models whose memory lives in the layers (ARMT, Infini): segment 0 is the plain backbone
    (ARMT's memory rows come after its tokens; Infini has no memory yet), and segment 1 sees
    segment 0 only through the memory. run(ids) -> logits; reset() empties every layer's memory."""
    reset()
    plain = model(input_ids=torch.tensor([ids[:S]]), use_cache=False).logits[0]
    assert torch.allclose(plain, logits[:S], atol=1e-5), f"{name}: segment 0 differs from the plain backbone"
    k = 10
    alt = list(ids)
    alt[k] = (alt[k] + 1) % model.config.vocab_size
    alt_logits = run(alt)
    assert torch.equal(alt_logits[:k], logits[:k]), f"{name}: positions before the change moved"
    d1 = float((alt_logits[S:2 * S] - logits[S:2 * S]).abs().max())
    assert d1 > 1e-3, f"{name}: segment 1 does not see segment 0 through memory ({d1:.2e})"
    reset()
    d0 = float((model(input_ids=torch.tensor([ids[S:2 * S]]), use_cache=False).logits[0] - logits[S:2 * S]).abs().max())
    assert d0 > 1e-2, f"{name}: segment 1's logits ignore the memory ({d0:.2e})"
    return d1, d0


class InfiniAttention(torch.nn.Module):
    """Infini-attention in place of one HF attention module (GPT2Attention or LlamaAttention),
    with that module's projections; `gate` is beta [heads]."""

    def __init__(self, attn, backbone, cfg, gate, delta):
        super().__init__()
        self.attn, self.backbone, self.delta = attn, backbone, delta
        self.heads = cfg.num_attention_heads
        self.kv_heads = getattr(cfg, "num_key_value_heads", None) or self.heads
        self.dh = cfg.hidden_size // self.heads
        self.gate = torch.sigmoid(gate)
        self.reset()

    def reset(self):
        self.M = torch.zeros(self.kv_heads, self.dh, self.dh)
        self.z = torch.zeros(self.kv_heads, self.dh)
        self.has_memory, self.pending = False, None

    def recall(self, feats, g):
        """sigma(x) M_g / (sigma(x) . z_g) for activated rows feats [n][dh]."""
        return (feats @ self.M[g]) / torch.clamp(feats @ self.z[g], min=1e-10)[:, None]

    def forward(self, hidden_states, *args, position_embeddings=None, **kwargs):
        x, n, a = hidden_states[0], hidden_states.shape[1], self.attn
        if self.backbone == "gpt2":
            q, k, v = a.c_attn(x).split(self.heads * self.dh, dim=-1)
        else:
            q, k, v = a.q_proj(x), a.k_proj(x), a.v_proj(x)
        q, k, v = q.view(n, self.heads, self.dh), k.view(n, self.kv_heads, self.dh), v.view(n, self.kv_heads, self.dh)
        # Local causal softmax within the segment (the model's own attention, eq. 1-2).
        qr, kr = q.transpose(0, 1)[None], k.transpose(0, 1)[None]
        if self.backbone == "llama":
            cos, sin = position_embeddings
            qr, kr = llama_module.apply_rotary_pos_emb(qr, kr, cos, sin)
        group = self.heads // self.kv_heads
        kr, vr = llama_module.repeat_kv(kr, group), llama_module.repeat_kv(v.transpose(0, 1)[None], group)
        scores = qr @ kr.transpose(-1, -2) / self.dh ** 0.5
        scores = scores.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
        out = (torch.softmax(scores, -1) @ vr)[0]  # [heads][n][dh]
        sq, sk = torch.nn.functional.elu(q) + 1, torch.nn.functional.elu(k) + 1
        if self.has_memory:  # eq. 3 and 6
            memory = torch.stack([self.recall(sq[:, h], h // group) for h in range(self.heads)])
            g = self.gate[:, None, None]
            out = g * memory + (1 - g) * out
        # What this segment adds when it completes (eq. 4, or eq. 5 once there is a memory).
        values = torch.stack([v[:, j] - self.recall(sk[:, j], j) if self.delta and self.has_memory else v[:, j]
                              for j in range(self.kv_heads)])
        self.pending = (torch.einsum("ngk,gnv->gkv", sk, values), sk.sum(0))
        out = out.transpose(0, 1).reshape(1, n, -1)
        out = a.c_proj(out) if self.backbone == "gpt2" else a.o_proj(out)
        return (out, None) if self.backbone == "gpt2" else (out, None, None)

    def commit(self):
        self.M, self.z = self.M + self.pending[0], self.z + self.pending[1]
        self.has_memory = True


def wrap_infini(model, backbone, tensors, memory_update):
    layers = model.transformer.h if backbone == "gpt2" else model.model.layers
    for l, layer in enumerate(layers):
        name = "attn" if backbone == "gpt2" else "self_attn"
        setattr(layer, name, InfiniAttention(getattr(layer, name), backbone, model.config, tensors[f"infini.{l}.gate"],
                                             memory_update == "delta"))
    return [getattr(layer, "attn" if backbone == "gpt2" else "self_attn") for layer in layers]


def infini_forward(model, attns, ids):
    """The Infini recurrence: logits [N][vocab], memories [full segments][layers][kv*dh][dh]."""
    for a in attns:
        a.reset()
    logits, memories = [], []
    for s0 in range(0, len(ids), S):
        seg = torch.tensor([ids[s0:s0 + S]])
        logits.append(model(input_ids=seg, use_cache=False).logits[0])
        if seg.shape[1] == S:
            for a in attns:
                a.commit()
            memories.append(torch.stack([a.M.reshape(-1, a.dh) for a in attns]))
    return torch.cat(logits), torch.stack(memories)


def titans_forward_and_check(name, model, memories, ids):
    """Every position's logits in one forward, and checks: two forwards that carry the memories
    and the KV cache give the same logits (the recurrence is token by token), a changed token
    moves nothing before it, and the memory layers matter."""
    def run(tokens, split=None):
        for mem in memories:
            mem.reset()
        if split is None:
            return model(input_ids=torch.tensor([tokens]), use_cache=False).logits[0]
        first = model(input_ids=torch.tensor([tokens[:split]]), use_cache=True)
        rest = model(input_ids=torch.tensor([tokens[split:]]), past_key_values=first.past_key_values, use_cache=True)
        return torch.cat([first.logits[0], rest.logits[0]])

    logits = run(ids)
    assert torch.allclose(run(ids, split=21), logits, atol=1e-5), f"{name}: two forwards differ from one"
    k = 10
    alt = list(ids)
    alt[k] = (alt[k] + 1) % model.config.vocab_size
    alt_logits = run(alt)
    assert torch.equal(alt_logits[:k], logits[:k]), f"{name}: positions before the change moved"
    d1 = float((alt_logits[k + 1:] - logits[k + 1:]).abs().max())
    saved = [mem.w["W_o.weight"] for mem in memories]
    for mem in memories:
        mem.w["W_o.weight"] = torch.zeros_like(mem.w["W_o.weight"])
    d0 = float((run(ids) - logits).abs().max())
    for mem, w_o in zip(memories, saved):
        mem.w["W_o.weight"] = w_o
    assert d0 > 1e-2, f"{name}: the memory layers change nothing ({d0:.2e})"
    return logits, d1, d0

def main():
    global M, S
    args = sys.argv[1:]
    bench = len(args) == 3 and args[:2] == ["--size", "bench"]
    if bench:
        M, S, args = BENCH["M"], BENCH["S"], args[2:]
    if len(args) != 1 or args[0].startswith("-"):
        raise SystemExit("usage: make_memory_models.py [--size bench] OUTDIR")
    out = Path(args[0])
    (out / "expected").mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # deterministic sums, and light on a busy machine
    bpe = tiny_tokenizers.train_bpe()
    prompt = bpe.encode(PROMPT_TEXT).ids
    ids = [prompt[i % len(prompt)] for i in range(N_TOKENS)]
    vocab, eot = bpe.get_vocab_size(), bpe.token_to_id("<|endoftext|>")
    entries = {}
    for seed, (name, (kind, backbone, config_cls, model_cls, kw, settings)) in enumerate(MODELS.items()):
        if bench:
            kw, settings = {**kw, **BENCH[backbone]}, {**settings, **BENCH.get(kind, {})}
        cfg = config_cls(vocab_size=vocab, bos_token_id=eot, eos_token_id=eot, torch_dtype="float32",
                         attn_implementation="eager", **kw)
        assert (cfg.n_positions if backbone == "gpt2" else cfg.max_position_embeddings) >= 2 * M + S
        torch.manual_seed(seed)  # HF's init, overwritten below; seeded so nothing is left to chance
        model = model_cls(cfg).eval()
        m = Maker(200 + seed)
        w = random_weights(m, model, backbone)
        w["memory"] = m.normal(M, cfg.hidden_size, std=1.0)  # the authors: randn * embedding std
        d = cfg.hidden_size
        for l in range(cfg.num_hidden_layers if kind == "armt" else 0):
            heads, d_mem = settings["memory_heads"], settings["d_mem"]
            w[f"associative.{l}.W_mq.weight"] = m.normal(d_mem, d, std=2.0 / d ** 0.5)
            w[f"associative.{l}.W_mk.weight"] = m.normal(d_mem, d, std=2.0 / d ** 0.5)
            w[f"associative.{l}.W_mv.weight"] = m.normal(d, d, std=1.0 / d ** 0.5)
            w[f"associative.{l}.W_mb.weight"] = m.normal(heads, d, std=1.0 / d ** 0.5)
            w[f"associative.{l}.W_mb.bias"] = m.normal(heads, std=0.5)
        for l in range(cfg.num_hidden_layers if kind == "infini" else 0):
            w[f"infini.{l}.gate"] = m.normal(cfg.num_attention_heads, std=1.0)
        for l in range(cfg.num_hidden_layers if kind == "titans" else 0):
            heads, dh = settings["memory_heads"], settings["memory_head_dim"]
            for key, shape in neural_memory.tensor_shapes(d, heads, dh).items():
                if key == "norm.weight":
                    t = m.normal(*shape, std=0.1, mean=1.0)
                elif key.endswith("bias"):  # forget a little, keep some momentum, steps of ~max_lr/2
                    t = m.normal(*shape, std=0.5, mean=-2.0 if "alpha" in key else 0.0)
                else:
                    t = m.normal(*shape, std=1.0 / shape[1] ** 0.5)
                w[f"titans.{l}.{key}"] = t
        if kind in ("infini", "titans"):
            del w["memory"]
        folder = out / name
        write_hf(folder, config_json(kind, backbone, cfg, settings), {k: v.numpy() for k, v in w.items()})
        bpe.save(str(folder / "tokenizer.json"))
        if bench:
            print(f"make_memory_models: {name} (bench size) in {folder}")
            continue

        # The reference runs on what was written: HF loads the folder's tensors by its own names
        # (a wrong name would be missing); `memory` and the associative tensors are the ones HF
        # does not know.
        model, info = model_cls.from_pretrained(str(folder), config=cfg, torch_dtype=torch.float32,
                                                attn_implementation="eager", output_loading_info=True)
        model.eval()
        tensors = load_file(str(folder / "model.safetensors"))
        own = {k for k in tensors if k == "memory" or k.startswith(("associative.", "infini.", "titans."))}
        assert not info["missing_keys"] and set(info["unexpected_keys"]) == own, f"{name}: {info}"
        memory = tensors.get("memory")
        segmented = kind != "titans"
        entry = {"path": name, "model_type": kind, "backbone": backbone, "input_ids": ids,
                 "segment_size": S if segmented else 0, "num_mem_tokens": M if kind in ("rmt", "armt") else 0,
                 "n_full_segments": len(ids) // S if segmented else 0}
        with torch.no_grad():
            if kind == "rmt":
                logits, mems, seg0 = rmt_forward(model, memory, ids)
                d1, d0 = self_check(name, model, memory, ids, logits)
                arrays = {"logits": logits, "memory": mems, "segment_hidden": seg0}
                what = "segment 0 {:.2f} with a zero memory"
            elif kind == "titans":
                memories = neural_memory.wrap(model, tensors, settings["memory_heads"], settings["memory_head_dim"],
                                              settings["memory_max_lr"], settings["memory_norm_eps"])
                logits, d1, d0 = titans_forward_and_check(name, model, memories, ids)
                arrays = {"logits": logits}
                what = "{:.2f} without the memory layers"
                entry.update(settings)
            elif kind == "infini":
                attns = wrap_infini(model, backbone, tensors, settings["memory_update"])
                logits, memories = infini_forward(model, attns, ids)
                d1, d0 = layer_memory_self_check(name, model, ids, logits, lambda x: infini_forward(model, attns, x)[0],
                                                 lambda: [a.reset() for a in attns])
                arrays = {"logits": logits, "memory": memories}
                what = "segment 1 {:.2f} with no memory"
                entry.update(settings)
            else:
                wrap_armt(model, tensors, settings)
                logits, writes = armt_forward(model, memory, ids)
                blocks = associative_blocks(model)
                d1, d0 = layer_memory_self_check(name, model, ids, logits, lambda x: armt_forward(model, memory, x)[0],
                                                 lambda: [b.reset() for b in blocks])
                arrays = {"logits": logits, "writes": writes}
                what = "segment 1 {:.2f} with no associative read"
                entry.update(settings)
        for key, t in arrays.items():
            entry[key] = f"expected/{name}.{key}.npy"
            np.save(out / entry[key], t.numpy().astype(np.float32))
        entries[name] = entry
        print(f"make_memory_models: {name}: logits max |x| {logits.abs().max():.2f}, std {logits.std():.2f}; "
              f"{'segment 1 moves' if segmented else 'later positions move'} {d1:.2f} when "
              f"{'a segment-0 token' if segmented else 'token 10'} changes, " + what.format(d0))
    if bench:
        return
    (out / "expected.json").write_text(json.dumps({"generator": "tools/reference/make_memory_models.py",
                                                   "transformers": transformers.__version__,
                                                   "models": entries}, indent=1) + "\n")
    print(f"make_memory_models: {len(entries)} models in {out}")


if __name__ == "__main__":
    main()

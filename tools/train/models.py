"""The training side of the task models (issue 14): PyTorch modules whose parameters carry the
names and shapes of the Hugging Face layouts the C++ plugins read, so that a trained module is
written as config.json + model.safetensors and run by the engine as it is. The modules exist only
to be trained; tests check that the engine's logits on the written files equal these modules'.

Families:
  transformer   a Llama-style softmax transformer (the baseline): pre-norm RMSNorm blocks, rotate-
                half RoPE, grouped-query attention, SwiGLU MLP; the transformer plugin's `llama`.
  sliding_window  the same with attention to the last `window` positions only, written in
                Mistral's layout (config.sliding_window); the transformer plugin's `mistral`.
  linear_attn, retnet, gla, delta_net, gated_deltanet, hybrid_gated_deltanet, mamba, mamba2
                the assemblies of tools/reference/make_family_models.py (the field's own naive
                forms from fla-core and mamba_ssm inside pre-norm blocks), with trainable weights:
                the same code computes the reference outputs the plugins are tested against."""

import math
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))
import make_family_models as reference_families  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fast_forms  # noqa: E402

EPS = 1e-6


rms_norm = reference_families.rms


class NamedParameters(nn.Module):
    """Parameters under their checkpoint names (dots and all), which nn.Module attributes cannot
    hold: the file's names are the one naming, in training as in the written model."""

    def __init__(self):
        super().__init__()
        self._params = nn.ParameterDict()

    def add(self, name, tensor):
        self._params[name.replace(".", "/")] = nn.Parameter(tensor)

    def __getitem__(self, name):
        return self._params[name.replace(".", "/")]

    def named(self):
        return {key.replace("/", "."): p for key, p in self._params.items()}


class Transformer(nn.Module):
    """A Llama: config keys as transformers' LlamaConfig, weights as LlamaForCausalLM's."""

    def __init__(self, vocab, d_model, n_layers, n_heads, n_kv_heads, d_ff, seed=0, window=0):
        super().__init__()
        self.window = window
        self.vocab, self.d, self.n_layers, self.n_heads, self.n_kv_heads = vocab, d_model, n_layers, n_heads, n_kv_heads
        self.head_dim, self.d_ff = d_model // n_heads, d_ff
        self.rope_theta = 10000.0  # the reference attention's
        g = torch.Generator().manual_seed(seed)
        w = self.w = NamedParameters()

        def linear(n_out, n_in, depth_scale=1.0):
            return torch.randn(n_out, n_in, generator=g) * (depth_scale / math.sqrt(n_in))

        # Output projections start small (GPT-2's 1/sqrt(2·layers)): the residual stream stays O(1).
        out_scale = 1.0 / math.sqrt(2 * n_layers)
        w.add("model.embed_tokens.weight", torch.randn(vocab, d_model, generator=g))
        for i in range(n_layers):
            p = f"model.layers.{i}."
            hd = self.head_dim
            w.add(p + "input_layernorm.weight", torch.ones(d_model))
            w.add(p + "self_attn.q_proj.weight", linear(n_heads * hd, d_model))
            w.add(p + "self_attn.k_proj.weight", linear(n_kv_heads * hd, d_model))
            w.add(p + "self_attn.v_proj.weight", linear(n_kv_heads * hd, d_model))
            w.add(p + "self_attn.o_proj.weight", linear(d_model, n_heads * hd, out_scale))
            w.add(p + "post_attention_layernorm.weight", torch.ones(d_model))
            w.add(p + "mlp.gate_proj.weight", linear(d_ff, d_model))
            w.add(p + "mlp.up_proj.weight", linear(d_ff, d_model))
            w.add(p + "mlp.down_proj.weight", linear(d_model, d_ff, out_scale))
        w.add("model.norm.weight", torch.ones(d_model))
        w.add("lm_head.weight", linear(vocab, d_model))

    def attention(self, p, x):
        # The reference's softmax attention (rotate-half RoPE at theta 10000, GQA, causal), shared
        # with the hybrid's softmax layers.
        return reference_families.softmax_attention(self.w, p, x, self.n_heads, self.n_kv_heads, self.window)

    def forward(self, ids):
        """ids [B][T] -> logits [B][T][vocab]."""
        w = self.w
        x = w["model.embed_tokens.weight"][ids]
        for i in range(self.n_layers):
            p = f"model.layers.{i}."
            x = x + self.attention(p + "self_attn.", rms_norm(x, w[p + "input_layernorm.weight"]))
            h = rms_norm(x, w[p + "post_attention_layernorm.weight"])
            x = x + (F.silu(h @ w[p + "mlp.gate_proj.weight"].T) * (h @ w[p + "mlp.up_proj.weight"].T)) @ \
                w[p + "mlp.down_proj.weight"].T
        return rms_norm(x, w["model.norm.weight"]) @ w["lm_head.weight"].T

    def config(self):
        # A window makes it a Mistral: Llama's layout and names, and config.sliding_window.
        kind = {"model_type": "mistral", "architectures": ["MistralForCausalLM"], "sliding_window": self.window} \
            if self.window else {"model_type": "llama", "architectures": ["LlamaForCausalLM"]}
        return {**kind, "hidden_size": self.d,
                "intermediate_size": self.d_ff, "num_hidden_layers": self.n_layers,
                "num_attention_heads": self.n_heads, "num_key_value_heads": self.n_kv_heads,
                "head_dim": self.head_dim, "max_position_embeddings": 16384, "rms_norm_eps": EPS,
                "rope_theta": self.rope_theta, "vocab_size": self.vocab, "hidden_act": "silu",
                "tie_word_embeddings": False, "torch_dtype": "float32"}

    def tensors(self):
        return {name: p.detach().contiguous() for name, p in self.w.named().items()}


def baseline_init(weights, n_layers, seed):
    """The transformer baseline's initialisation, given to every family's assembly before training,
    so that the families differ in their token mixers and not in how they start: projections
    N(0, 1/n_in), output projections (o_proj, out_proj, down_proj) scaled by 1/sqrt(2·layers),
    norm weights 1. What is a family's own parameterisation stays as its assembly draws it
    (embeddings, convolutions, biases), but for the decay gates, which gate_init sets as the
    families' own code does. make_family_models draws q and k at twice that scale and norms around
    1 for its tests' sake; trained from that, the hybrid reached 6.5% of 16-pair MQAR answers in
    1,500 steps, and 23% after 600 from this one."""
    g = torch.Generator().manual_seed(seed + 7919)
    out_scale = 1.0 / math.sqrt(2 * n_layers)
    for name, t in weights.items():
        if not name.endswith(".weight") or "embed" in name:
            continue
        if t.dim() == 1 and "norm" in name:
            weights[name] = torch.ones_like(t)
        elif t.dim() == 2:
            scale = out_scale if name.endswith(("o_proj.weight", "out_proj.weight", "down_proj.weight")) else 1.0
            weights[name] = torch.randn(t.shape, generator=g) * (scale / math.sqrt(t.shape[1]))


def gate_init(weights, seed):
    """The decay gates as the families' own code initialises them for training, given to every
    assembly after baseline_init: Δ log-uniform in [0.001, 0.1] through an inverse-softplus bias
    (mamba_ssm's Mamba and Mamba2, fla's GatedDeltaNet), Mamba-1's Δ projection uniform in
    ±rank^-0.5, A uniform in (1, 16) (Mamba2) or (0, 16) (GatedDeltaNet; Mamba-1's A is S4D-real,
    1..N, as make_family_models draws it), D ones. make_family_models draws Δ around
    softplus(-2) ≈ 0.13 for its tests (gates that visibly act on a few tokens); trained from that,
    Gated DeltaNet forgot a token within ~10 positions and stayed at chance on selective copying
    (loss 2.77 from step 117 to 1171 of 1500), where DeltaNet, which has no gate, learnt it."""
    g = torch.Generator().manual_seed(seed + 104729)

    def uniform(n, lo, hi):
        return torch.rand(n, generator=g) * (hi - lo) + lo

    def inverse_softplus_of_dt(n):
        dt = torch.exp(uniform(n, math.log(0.001), math.log(0.1))).clamp(min=1e-4)
        return dt + torch.log(-torch.expm1(-dt))

    for name, t in weights.items():
        if name.endswith(("dt_bias", "dt_proj.bias")):
            weights[name] = inverse_softplus_of_dt(t.shape[0])
        elif name.endswith("dt_proj.weight"):
            bound = t.shape[1] ** -0.5
            weights[name] = uniform(t.numel(), -bound, bound).view(t.shape)
        elif name.endswith("A_log") and t.dim() == 1:
            weights[name] = torch.log(uniform(t.shape[0], 1.0, 16.0) if name.startswith("backbone.")
                                      else uniform(t.shape[0], 0.0, 16.0).clamp(min=1e-4))
        elif name.endswith("mixer.D"):
            weights[name] = torch.ones_like(t)


class ReferenceFamily(nn.Module):
    """One of make_family_models' assemblies, its weights made parameters: the mixer closures look
    the weights up by name in the dict they were built with, which now holds the parameters. The
    weights start as the baseline's (baseline_init), the decay gates as their papers' (gate_init)."""

    def __init__(self, family, vocab, size, seed, reference_forms=False):
        super().__init__()
        forms = None if reference_forms else fast_forms.FORMS
        cfg, weights, mixer, forward = reference_families.build_model(family, vocab, seed, size, forms)
        baseline_init(weights, cfg["num_hidden_layers"], seed)
        gate_init(weights, seed)
        self.cfg = dict(cfg, torch_dtype="float32", max_position_embeddings=16384)
        self.w = NamedParameters()
        for name, tensor in weights.items():
            self.w.add(name, tensor.clone())
            weights[name] = self.w[name]
        self._weights, self._mixer, self._forward = weights, mixer, forward

    def forward(self, ids):
        """ids [B][T] -> logits [B][T][vocab]."""
        return self._forward(self._weights, self._mixer, ids)[0]

    def config(self):
        return self.cfg

    def tensors(self):
        return {name: p.detach().contiguous() for name, p in self.w.named().items()}


FAMILIES = ["transformer", "sliding_window", *reference_families.MODELS]


def build(family, vocab, size, seed, reference_forms=False):
    """A fresh model of `family` with the task's size settings (train.py's SIZES); the recurrent
    families train with fast_forms' chunked forms and scan unless `reference_forms`."""
    if family in ("transformer", "sliding_window"):
        return Transformer(vocab, size["d_model"], size["n_layers"], size["n_heads"], size["n_kv_heads"], size["d_ff"],
                           seed=seed, window=size.get("window", 0) if family == "sliding_window" else 0)
    if family in reference_families.MODELS:
        return ReferenceFamily(family, vocab, size, seed, reference_forms)
    raise ValueError(f"unknown family '{family}' ({', '.join(FAMILIES)})")


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())

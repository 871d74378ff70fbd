#!/usr/bin/env python3
"""The training modules of tools/train/models.py, one small random model per family: a batch of
sequences (right-padded) gives each sequence the logits it has alone, gradients reach every
parameter, the written tensors carry the checkpoint names the plugins read, and the training-speed
forms of tools/train/fast_forms.py give the references' logits and gradients."""

import sys
import unittest
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "train"))
sys.path.insert(0, str(ROOT / "tests" / "train"))
import models  # noqa: E402
import tasks  # noqa: E402
import write_random_task_model as sizes  # noqa: E402


class Models(unittest.TestCase):
    def test_batched_logits_equal_each_sequence_alone(self):
        torch.set_num_threads(1)
        a = torch.tensor(tasks.examples("mqar", "heldout", 8, 1)[0].ids)
        b = torch.tensor(tasks.examples("mqar", "heldout", 4, 1)[0].ids)
        batch = torch.full((2, len(a)), tasks.PAD_ID)
        batch[0], batch[1, :len(b)] = a, b
        for seed, family in enumerate(models.FAMILIES):
            with self.subTest(family=family):
                m = models.build(family, len(tasks.VOCAB), sizes.size_of(family), seed=seed)
                with torch.no_grad():
                    together = m(batch)
                    alone_a, alone_b = m(a[None])[0], m(b[None])[0]
                scale = alone_a.abs().max()
                self.assertLess(float((together[0] - alone_a).abs().max() / scale), 1e-5)
                self.assertLess(float((together[1, :len(b)] - alone_b).abs().max() / scale), 1e-5)

    def test_gradients_reach_every_parameter_and_names_are_the_checkpoints(self):
        ids = torch.tensor([tasks.examples("mqar", "heldout", 4, 1)[0].ids])
        for seed, family in enumerate(models.FAMILIES):
            with self.subTest(family=family):
                m = models.build(family, len(tasks.VOCAB), sizes.size_of(family), seed=seed)
                m(ids).logsumexp(-1).sum().backward()
                unreached = [n for n, p in m.w.named().items() if p.grad is None or not p.grad.abs().sum() > 0]
                self.assertEqual(unreached, [])
                names = set(m.tensors())
                embed = "model.embed_tokens.weight" if family in ("transformer", "sliding_window") else \
                    "backbone.embeddings.weight" if family.startswith("mamba") else "model.embeddings.weight"
                self.assertIn(embed, names)
                self.assertEqual(m.config()["vocab_size"], len(tasks.VOCAB))

    def test_fast_forms_give_the_references_logits_and_gradients(self):
        torch.set_num_threads(1)
        # 16 pairs: ~64 tokens, several of the chunked forms' 16-token chunks and a padded last one.
        ids = torch.tensor([e.ids[:61] for e in tasks.examples("mqar", "heldout", 16, 2)])
        for family in ("mamba", "linear_attn", "gla", "delta_net", "gated_deltanet", "hybrid_gated_deltanet"):
            with self.subTest(family=family):
                runs = []
                for reference in (True, False):
                    m = models.build(family, len(tasks.VOCAB), sizes.size_of(family), seed=3, reference_forms=reference)
                    logits = m(ids)
                    logits.logsumexp(-1).sum().backward()
                    runs.append((logits.detach(), {n: p.grad for n, p in m.w.named().items()}))
                (ref_logits, ref_grads), (fast_logits, fast_grads) = runs
                self.assertLess(float((fast_logits - ref_logits).norm() / ref_logits.norm()), 1e-6)
                # Chunked sums round differently in float32: measured up to 2.8e-5 (the gated delta
                # rule's embedding gradient), 2e-6 to 5e-6 for the others; a wrong form is off by 1e-1.
                for name, g in ref_grads.items():
                    self.assertLess(float((fast_grads[name] - g).norm() / g.norm()), 1e-4, name)

    def test_decay_gates_start_as_the_families_own_code_starts_them(self):
        """Δ = softplus(bias) log-uniform in [0.001, 0.1] (mamba_ssm, fla), A in (1, 16) for Mamba-2
        and (0, 16) for Gated DeltaNet, Mamba-1's A S4D-real, D ones: not make_family_models' test
        gates (Δ near 0.13), which forget a token within ~10 positions."""
        F = torch.nn.functional
        for family in ("gated_deltanet", "hybrid_gated_deltanet", "mamba", "mamba2"):
            with self.subTest(family=family):
                w = models.build(family, len(tasks.VOCAB), sizes.size_of(family), seed=11).tensors()
                dts = [F.softplus(t) for n, t in w.items() if n.endswith(("dt_bias", "dt_proj.bias"))]
                self.assertTrue(dts)
                for dt in dts:
                    self.assertGreaterEqual(float(dt.min()), 1e-4)
                    self.assertLessEqual(float(dt.max()), 0.1 + 1e-6)
                for n, t in w.items():
                    if n.endswith("A_log"):
                        A = t.exp()
                        if t.dim() == 2:  # Mamba-1: 1..N in every channel
                            self.assertTrue(torch.allclose(A, torch.arange(1, t.shape[1] + 1).float().expand_as(A)), n)
                        else:
                            lo = 1.0 if family == "mamba2" else 0.0
                            self.assertTrue(bool(((A >= lo) & (A <= 16.0)).all()), n)
                    if n.endswith("mixer.D"):
                        self.assertTrue(bool((t == 1).all()), n)

    def test_sliding_window_is_transformers_mistral(self):
        """The sliding-window module, written as train.py writes it, gives the logits of
        transformers' own MistralForCausalLM on that folder (an independent reference of the
        window's edge: each query sees `window` positions, its own included)."""
        hf_dir = ROOT / ".venv" / "hf-reference"
        sys.path.insert(0, str(hf_dir))
        try:
            import transformers
        except ImportError:
            self.skipTest("transformers is not installed (.venv/hf-reference, scripts/setup)")
        import tempfile
        from safetensors.torch import save_file
        import json
        torch.set_num_threads(1)
        size = sizes.size_of("sliding_window")
        m = models.build("sliding_window", len(tasks.VOCAB), size, seed=5)
        ids = torch.tensor([tasks.examples("mqar", "heldout", 8, 1)[0].ids])
        self.assertGreater(ids.shape[1], 3 * size["window"])
        with tempfile.TemporaryDirectory() as d, torch.no_grad():
            (Path(d) / "config.json").write_text(json.dumps(m.config()))
            save_file(m.tensors(), str(Path(d) / "model.safetensors"), metadata={"format": "pt"})
            hf = transformers.MistralForCausalLM.from_pretrained(d, torch_dtype=torch.float32,
                                                                  attn_implementation="eager").eval()
            want = hf(ids, use_cache=False).logits
            got = m(ids)
            full = models.Transformer(len(tasks.VOCAB), size["d_model"], size["n_layers"], size["n_heads"],
                                      size["n_kv_heads"], size["d_ff"], seed=5)(ids)
        self.assertLess(float((got - want).norm() / want.norm()), 1e-5)
        self.assertGreater(float((full - want).norm() / want.norm()), 1e-2)  # the window matters here


if __name__ == "__main__":
    unittest.main()

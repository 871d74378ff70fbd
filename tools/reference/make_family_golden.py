#!/usr/bin/env python3
"""make_family_golden.py OUTDIR: golden files for the recurrent-family kernels
(engine/kernels linear_attention.h and ssm.h), from the field's own references
(family_references.py): flash-linear-attention's naive forms, mamba_ssm's selective_scan_ref and
ssd_minimal_discrete, and torch's conv1d.

Each case OUTDIR/<family>_T<T>/ holds its inputs and expected outputs as float32 .npy files in the
C++ kernels' layouts ([T][H][d] activations, [H][dk][dv] states, mamba's [H][P][N]), drawn with a
fixed seed. tests/kernels/test_family_golden.cpp reads the same case names."""

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import family_references as refs  # noqa: E402

LENGTHS = [1, 7, 64, 65, 200]
H, DK, DV = 2, 16, 24  # dk ≠ dv on purpose
MAMBA1 = dict(D=8, N=16, G=2)
MAMBA2 = dict(H=4, P=8, N=16, G=2)
CONV = dict(D=8, K=4)


def save(folder: Path, **arrays) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in arrays.items():
        if isinstance(value, torch.Tensor):
            value = value.detach().numpy()
        np.save(folder / f"{name}.npy", np.ascontiguousarray(np.asarray(value, dtype=np.float32)))


def qkv(g: torch.Generator, T: int):
    q = torch.randn(1, T, H, DK, generator=g)
    k = torch.randn(1, T, H, DK, generator=g)
    v = torch.randn(1, T, H, DV, generator=g)
    return q, k, v


def state0(g: torch.Generator, *shape):
    return 0.5 * torch.randn(1, *shape, generator=g)


def linear_attn(g, T, out: Path):
    q, k, v = qkv(g, T)
    s0 = state0(g, H, DK, DV)
    # The feature map is the caller's: the C++ test applies elu_plus_one to these q and k.
    o, s = refs.fla_naive("linear_attn").naive_recurrent_linear_attn(
        F.elu(q) + 1, F.elu(k) + 1, v, scale=DK ** -0.5, initial_state=s0.clone(), output_final_state=True)
    save(out, q=q[0], k=k[0], v=v[0], scale=[DK ** -0.5], state_in=s0[0], out=o[0], state_out=s[0])


def retention(g, T, out: Path):
    q, k, v = qkv(g, T)
    # naive_retention fixes γ_h = 1 − 2^(−5−h) and scale d^-1/2 and starts from a zero state.
    o = refs.fla_naive("retention").naive_retention(*(x.transpose(1, 2) for x in (q, k, v))).transpose(1, 2)
    log_decay = np.log(1 - 2.0 ** (-5.0 - np.arange(H)))
    save(out, q=q[0], k=k[0], v=v[0], scale=[DK ** -0.5], head_log_decay=log_decay, state_in=np.zeros((H, DK, DV)),
         out=o[0])


def gla(g, T, out: Path):
    q, k, v = qkv(g, T)
    gk = F.logsigmoid(torch.randn(1, T, H, DK, generator=g)) / 16
    s0 = state0(g, H, DK, DV)
    o, s = refs.fla_naive("gla").naive_recurrent_gla(q, k, v, gk, initial_state=s0.clone(), output_final_state=True)
    save(out, q=q[0], k=k[0], v=v[0], scale=[DK ** -0.5], key_log_gate=gk[0], state_in=s0[0], out=o[0], state_out=s[0])


def delta_rule(g, T, out: Path):
    q, k, v = qkv(g, T)
    k = F.normalize(k, dim=-1)
    beta = torch.sigmoid(torch.randn(1, T, H, generator=g))
    s0 = state0(g, H, DK, DV)
    o, s = refs.fla_naive("delta_rule").delta_rule_recurrence(
        *(x.transpose(1, 2) for x in (q, k, v, beta)), initial_state=s0.clone(), output_final_state=True)
    save(out, q=q[0], k=k[0], v=v[0], beta=beta[0], scale=[DK ** -0.5], state_in=s0[0], out=o.transpose(1, 2)[0],
         state_out=s[0])


def gated_delta_rule(g, T, out: Path):
    q, k, v = qkv(g, T)
    k = F.normalize(k, dim=-1)
    beta = torch.sigmoid(torch.randn(1, T, H, generator=g))
    gate = F.logsigmoid(torch.randn(1, T, H, generator=g) + 2)
    s0 = state0(g, H, DK, DV)
    o, s = refs.fla_naive("gated_delta_rule").naive_recurrent_gated_delta_rule(
        q, k, v, beta, gate, scale=DK ** -0.5, initial_state=s0.clone(), output_final_state=True)
    save(out, q=q[0], k=k[0], v=v[0], beta=beta[0], head_log_gate=gate[0], scale=[DK ** -0.5], state_in=s0[0],
         out=o[0], state_out=s[0])


def mamba1(g, T, out: Path):
    D, N, G = MAMBA1["D"], MAMBA1["N"], MAMBA1["G"]
    x = torch.randn(T, D, generator=g)
    delta = torch.randn(T, D, generator=g) - 1
    delta_bias = 0.5 * torch.randn(D, generator=g)
    A = -torch.exp(torch.rand(D, N, generator=g) * 2)
    B = torch.randn(T, G, N, generator=g)
    C = torch.randn(T, G, N, generator=g)
    D_skip = torch.randn(D, generator=g)
    z = torch.randn(T, D, generator=g)
    scan, _ = refs.mamba_references()
    y, last = scan(x.T[None], delta.T[None], A, B.permute(1, 2, 0)[None], C.permute(1, 2, 0)[None], D_skip,
                   z.T[None], delta_bias, delta_softplus=True, return_last_state=True)
    save(out, x=x, delta=delta, delta_bias=delta_bias, A=A, B=B, C=C, D_skip=D_skip, z=z, out=y[0].T,
         state_out=last[0])


def mamba2(g, T, out: Path):
    Hh, P, N, G = MAMBA2["H"], MAMBA2["P"], MAMBA2["N"], MAMBA2["G"]
    x = torch.randn(T, Hh, P, generator=g)
    dt_raw = torch.randn(T, Hh, generator=g) - 2
    dt_bias = 0.5 * torch.randn(Hh, generator=g)
    A = -torch.exp(torch.rand(Hh, generator=g))
    B = torch.randn(T, G, N, generator=g)
    C = torch.randn(T, G, N, generator=g)
    s0 = state0(g, Hh, P, N)
    dt = F.softplus(dt_raw + dt_bias)
    group = torch.arange(Hh) // (Hh // G)  # head h reads group h / (H/G)
    _, ssd = refs.mamba_references()
    # ssd_minimal_discrete needs T to be a multiple of its block: the largest divisor of T up to 64.
    block = max(b for b in range(1, 65) if T % b == 0)
    y, last = ssd((x * dt[..., None])[None], (A * dt)[None], B[:, group][None], C[:, group][None], block,
                  initial_states=s0[:, None])
    save(out, x=x, dt=dt_raw, dt_bias=dt_bias, A=A, B=B, C=C, state_in=s0[0], out=y[0], state_out=last[0])


def conv1d(g, T, out: Path):
    D, K = CONV["D"], CONV["K"]
    x = torch.randn(T, D, generator=g)
    weight = torch.randn(D, K, generator=g)
    bias = torch.randn(D, generator=g)
    s0 = torch.randn(K - 1, D, generator=g)
    stream = torch.cat([s0, x]).T[None]  # [1][D][K−1+T]
    y = F.silu(F.conv1d(stream, weight[:, None], bias, groups=D))[0].T
    save(out, x=x, weight=weight, bias=bias, state_in=s0, out=y, state_out=stream[0, :, -(K - 1):].T)


FAMILIES = [linear_attn, retention, gla, delta_rule, gated_delta_rule, mamba1, mamba2, conv1d]


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: make_family_golden.py OUTDIR")
    root = Path(sys.argv[1])
    torch.set_default_dtype(torch.float32)
    for seed, family in enumerate(FAMILIES):
        for T in LENGTHS:
            g = torch.Generator().manual_seed(1000 * seed + T)
            family(g, T, root / f"{family.__name__}_T{T}")
    print(f"make_family_golden: {len(FAMILIES) * len(LENGTHS)} cases in {root}")


if __name__ == "__main__":
    main()

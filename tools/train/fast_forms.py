"""Training-speed forms of the reference recurrences, each the same recurrence as the reference it
replaces and checked against it, logits and gradients, by tests/train/check_models.py
(train.models). FORMS maps the names make_family_models' mixers look up to these.

mamba_ssm's selective_scan_ref takes a step of 64 MQAR examples 4.3 s here, against 0.33 s for
Mamba-2's: its loop indexes one time step of the whole [B][D][L][N] decay and input tensors per
step, and autograd answers each such slice with a gradient the size of the whole tensor. The scan
below does the same recurrence on per-step views made once (unbind), whose gradients are stacked
back.

fla-core's naive recurrent forms walk the sequence one token at a time in Python, so a passkey
step (T = 116) of DeltaNet took 1.3 s and of GLA 0.9 s (forward and backward, 64 examples). Their
chunked forms walk it a chunk at a time: fla's own naive chunked forms where fla has one (linear
attention, the delta rule, the gated delta rule), and the GLA chunk form written here (fla has
only the recurrent one), the sequence right-padded to whole chunks (padding after the last token
changes nothing before it)."""

import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))
import family_references as refs  # noqa: E402

# Tokens per chunk of the delta rules and GLA: each chunk costs a Python loop of its length (the
# delta rules' triangular solve) and the sequence one iteration per chunk, so about √T is best.
CHUNK = 16


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """As mamba_ssm's selective_scan_ref for real A [D][N] and input-dependent B, C [B][G][N][L]
    (G groups of channels): u, delta, z [B][D][L] -> y [B][D][L]."""
    if A.is_complex() or B.dim() != 4 or C.dim() != 4:
        raise ValueError("fast_forms.selective_scan: real A and grouped input-dependent B, C only")
    if delta_bias is not None:
        delta = delta + delta_bias[..., None]
    if delta_softplus:
        delta = F.softplus(delta)
    batch, dim, length = u.shape
    group = torch.arange(dim) // (dim // B.shape[1])
    B, C = B[:, group], C[:, group]  # [B][D][N][L]: each channel its group's B and C
    # Time-major and contiguous, so that each step's slice is one dense [B][D][N] block.
    delta_t = delta.permute(2, 0, 1)[..., None]  # [L][B][D][1]
    decays = torch.exp(delta_t * A).unbind(0)
    inputs = ((delta_t * u.permute(2, 0, 1)[..., None]) * B.permute(3, 0, 1, 2)).contiguous().unbind(0)
    readouts = C.permute(3, 0, 1, 2).contiguous().unbind(0)
    state = u.new_zeros(batch, dim, A.shape[1])
    ys = []
    for decay, x, c in zip(decays, inputs, readouts):
        state = decay * state + x
        ys.append((state * c).sum(-1))
    y = torch.stack(ys, -1)
    if D is not None:
        y = y + u * D[:, None]
    if z is not None:
        y = y * F.silu(z)
    return y


def _pad_time(x, multiple, dim):
    missing = (-x.shape[dim]) % multiple
    if not missing:
        return x
    shape = list(x.shape)
    shape[dim] = missing
    return torch.cat([x, x.new_zeros(shape)], dim)


def linear_attn(q, k, v, scale=None):
    """As fla's naive_recurrent_linear_attn without normalisation (q, k, v [B][T][H][d]):
    fla's naive_chunk_linear_attn, whose chunks are 64 tokens."""
    T = q.shape[1]
    o = refs.fla_naive("linear_attn").naive_chunk_linear_attn(*(_pad_time(t, 64, 1) for t in (q, k, v)), scale=scale)
    return o[:, :T], None


def delta_rule(q, k, v, beta):
    """As fla's delta_rule_recurrence (q, k, v [B][H][T][d], beta [B][H][T]): fla's
    delta_rule_chunkwise. Padded tokens have beta = 0 and k = 0: they write nothing."""
    T = q.shape[2]
    o, state = refs.fla_naive("delta_rule").delta_rule_chunkwise(*(_pad_time(t, CHUNK, 2) for t in (q, k, v, beta)),
                                                                  chunk_size=CHUNK)
    return o[:, :, :T], state


def gated_delta_rule(q, k, v, beta, g, scale=None):
    """As fla's naive_recurrent_gated_delta_rule (q, k, v [B][T][H][d], beta, g [B][T][H]):
    fla's naive_chunk_gated_delta_rule, which pads the sequence itself."""
    return refs.fla_naive("gated_delta_rule").naive_chunk_gated_delta_rule(q, k, v, g, beta, chunk_size=CHUNK, scale=scale)


def gla(q, k, v, gk):
    """As fla's naive_recurrent_gla (q, k, gk [B][T][H][K] with gk the log decay per key channel,
    v [B][T][H][V], scale K^-1/2): S_t = diag(exp(gk_t)) S_{t-1} + k_tᵀ v_t, o_t = q_t S_t.

    Chunked: with b the log decay accumulated from a chunk's start through each of its tokens,
    a query i sees key j ≤ i of its chunk through exp(b_i - b_j) per key channel (taken whole as
    [C][C][K], never split into exp(b_i)·exp(-b_j), which overflows), and the state at the chunk's
    start through exp(b_i); the state moves on by exp(b_last) and the chunk's keys decayed to its
    end. Padded tokens (gk = 0, k = 0) change nothing."""
    B, T, H, K = q.shape
    q, k, v, gk = (_pad_time(t.transpose(1, 2).float(), CHUNK, 2) for t in (q, k, v, gk))
    n = q.shape[2] // CHUNK
    q, k, v, gk = (t.reshape(B, H, n, CHUNK, t.shape[-1]) for t in (q * K ** -0.5, k, v, gk))
    b = gk.cumsum(3)
    causal = torch.ones(CHUNK, CHUNK, dtype=torch.bool).tril()[..., None]
    decay = (b[..., :, None, :] - b[..., None, :, :]).masked_fill(~causal, float("-inf")).exp()
    scores = (q[..., :, None, :] * k[..., None, :, :] * decay).sum(-1)  # [B][H][n][C][C]
    within = scores @ v
    q_from_start = q * b.exp()
    k_to_end = k * (b[..., -1:, :] - b).exp()
    chunk_decay = b[..., -1, :].exp()  # [B][H][n][K]
    state = q.new_zeros(B, H, K, v.shape[-1])
    from_state = []
    for c in range(n):
        from_state.append(q_from_start[:, :, c] @ state)
        state = chunk_decay[:, :, c, :, None] * state + k_to_end[:, :, c].transpose(-1, -2) @ v[:, :, c]
    o = within + torch.stack(from_state, 2)
    return o.reshape(B, H, n * CHUNK, -1)[:, :, :T].transpose(1, 2), None


FORMS = {"selective_scan": selective_scan, "linear_attn": linear_attn, "delta_rule": delta_rule,
         "gated_delta_rule": gated_delta_rule, "gla": gla}

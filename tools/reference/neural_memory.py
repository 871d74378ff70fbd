"""Titans' long-term neural memory in its linear form (Behrouz, Zhong and Mirrokni, "Titans:
Learning to Memorize at Test Time", 2024), written from the paper, as a layer in front of each
block of a Hugging Face backbone (the paper's "memory as a layer"). Used by make_memory_models.py.

Per layer and memory head, the memory is a matrix M [d_h][d_h] (values x keys) with a momentum S
of the same shape, both zero at the start of a sequence. For each token t in order, with
h = RMSNorm(x_t):
    q = normalize(W_q h), k = normalize(W_k h), v = W_v h          (per head)
    alpha = sigmoid(w_alpha h + b_alpha)   forgetting              (eq. 13)
    eta = sigmoid(w_eta h + b_eta)         momentum decay          (eq. 10)
    theta = max_lr sigmoid(w_theta h + b_theta)   step size        (eq. 10)
    S = eta S - theta (M k - v) k^T        the surprise: a gradient step on |M k - v|^2 / 2 (eq. 12)
    M = (1 - alpha) M + S                                         (eq. 13)
    y = M q                                retrieval with the updated memory (eq. 15)
and the block's input becomes x + W_o y. The loop is the recurrent form (chunk size 1): exact for
every token, the form the engine runs."""

import torch


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


class NeuralMemory(torch.nn.Module):
    """One layer's memory; `w` holds its tensors by their names after `titans.{l}.`."""

    def __init__(self, w, heads, head_dim, max_lr, eps):
        super().__init__()
        self.w, self.heads, self.dh, self.max_lr, self.eps = w, heads, head_dim, max_lr, eps
        self.reset()

    def reset(self):
        self.M = torch.zeros(self.heads, self.dh, self.dh)
        self.S = torch.zeros(self.heads, self.dh, self.dh)
        self.update_norms = []  # per token: |M_t - M_{t-1}| per head

    def forward(self, x):
        """x [n][d] -> W_o y [n][d], updating the memory token by token."""
        w, H, dh = self.w, self.heads, self.dh
        h = rms_norm(x, w["norm.weight"], self.eps)
        unit = torch.nn.functional.normalize
        q = unit((h @ w["W_q.weight"].T).view(-1, H, dh), dim=-1)
        k = unit((h @ w["W_k.weight"].T).view(-1, H, dh), dim=-1)
        v = (h @ w["W_v.weight"].T).view(-1, H, dh)
        alpha = torch.sigmoid(h @ w["W_alpha.weight"].T + w["W_alpha.bias"])
        eta = torch.sigmoid(h @ w["W_eta.weight"].T + w["W_eta.bias"])
        theta = self.max_lr * torch.sigmoid(h @ w["W_theta.weight"].T + w["W_theta.bias"])
        ys = []
        for t in range(x.shape[0]):
            error = torch.einsum("hvk,hk->hv", self.M, k[t]) - v[t]
            self.S = eta[t][:, None, None] * self.S - theta[t][:, None, None] * torch.einsum("hv,hk->hvk", error, k[t])
            previous = self.M
            self.M = (1 - alpha[t])[:, None, None] * self.M + self.S
            self.update_norms.append(torch.linalg.norm((self.M - previous).reshape(H, -1), dim=-1))
            ys.append(torch.einsum("hvk,hk->hv", self.M, q[t]).reshape(-1))
        return torch.stack(ys) @ w["W_o.weight"].T


class MemoryThenBlock(torch.nn.Module):
    """An HF block with the neural memory layer in front of it."""

    def __init__(self, block, memory):
        super().__init__()
        self.block, self.memory = block, memory

    def forward(self, hidden_states, *args, **kwargs):
        hidden_states = hidden_states + self.memory(hidden_states[0])[None]
        return self.block(hidden_states, *args, **kwargs)


def wrap(model, tensors, heads, head_dim, max_lr, eps):
    """Puts a memory layer in front of every block; returns the memories."""
    blocks = model.transformer.h if hasattr(model, "transformer") else model.model.layers
    memories = []
    for l in range(len(blocks)):
        prefix = f"titans.{l}."
        w = {key[len(prefix):]: t for key, t in tensors.items() if key.startswith(prefix)}
        memories.append(NeuralMemory(w, heads, head_dim, max_lr, eps))
        blocks[l] = MemoryThenBlock(blocks[l], memories[-1])
    return memories


def tensor_shapes(d, heads, head_dim):
    """The tensors of one layer's memory, by name after `titans.{l}.`."""
    inner = heads * head_dim
    return {"norm.weight": (d,), "W_q.weight": (inner, d), "W_k.weight": (inner, d), "W_v.weight": (inner, d),
            "W_o.weight": (d, inner), "W_alpha.weight": (heads, d), "W_alpha.bias": (heads,),
            "W_eta.weight": (heads, d), "W_eta.bias": (heads,), "W_theta.weight": (heads, d), "W_theta.bias": (heads,)}

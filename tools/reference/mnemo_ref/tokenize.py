"""Build `tokenizers` tokenizers from GGUF tokenizer.ggml.* metadata.

This mirrors what llama.cpp does for tokenizer.ggml.model == "gpt2": byte-level
BPE over the stored vocab and merges, with a pre-tokenizer chosen by
tokenizer.ggml.pre. Only the pre-tokenizers the goldens need are known here.
"""

from tokenizers import Tokenizer, AddedToken, decoders, models, pre_tokenizers

CONTROL = 3  # llama.cpp token_type for control tokens such as <|im_start|>


def _pre_tokenizer(pre):
    if pre == "smollm":
        # SmolLM2's tokenizer.json: digits split one by one, then GPT-2 byte-level regex.
        return pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ])
    if pre in ("gpt-2", "default", None):
        return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    raise ValueError(f"no pre-tokenizer known for tokenizer.ggml.pre={pre!r}")


def bpe_from_gguf_fields(fields):
    if fields.get("tokenizer.ggml.model") != "gpt2":
        raise ValueError("only byte-level BPE (tokenizer.ggml.model == 'gpt2') is supported")
    tokens = list(fields["tokenizer.ggml.tokens"])
    vocab = {tok: i for i, tok in enumerate(tokens)}
    merges = [tuple(m.split(" ", 1)) for m in fields["tokenizer.ggml.merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = _pre_tokenizer(fields.get("tokenizer.ggml.pre"))
    tok.decoder = decoders.ByteLevel()
    types = fields.get("tokenizer.ggml.token_type")
    if types is not None:
        specials = [AddedToken(t, special=True, normalized=False)
                    for t, ty in zip(tokens, types) if int(ty) == CONTROL]
        tok.add_special_tokens(specials)
    return tok

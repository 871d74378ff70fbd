"""Deterministically trained tiny tokenizers for the tiny test models.

A byte-level BPE (GPT-2 style, ~320 tokens) shared by the tiny gpt2 and llama
models, and a lowercase WordPiece (~300 tokens) for the tiny bert. Both are
trained with `tokenizers` on the fixed text below, and exported both as
tokenizer.json (HF side) and as llama.cpp-style tokenizer.ggml.* metadata.
"""

import json

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

TRAINING_TEXT = """
Mnemoscope is an inference engine for inspecting the internals of transformers.
It loads a model, runs it token by token, and records what every layer computes:
the attention patterns of each head, the residual stream, the logits at the end.
The quick brown fox jumps over the lazy dog. A lazy dog sleeps in the sun.
Once upon a time there was a little model that wanted to predict the next token.
It read the text, it counted the pairs, and it merged the most frequent ones first.
Numbers like 1, 2, 3, 10, 42, 128 and 2024 appear too, as do symbols: + - * / = ( ) [ ] { }.
def forward(x): return layer_norm(x + attention(x)) # a tiny line of code
The capital of France is Paris. The capital of Italy is Rome. The capital of Spain is Madrid.
Keys, queries and values; heads and layers; embeddings and positions; norms and biases.
""".strip().splitlines()

BPE_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
WORDPIECE_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
BPE_VOCAB_SIZE = 320
WORDPIECE_VOCAB_SIZE = 300
# Fixed continuation pieces so that words outside the vocab split into several pieces.
SUFFIX_PIECES = ["##s", "##es", "##ed", "##er", "##ers", "##ing", "##ion", "##ly", "##ent", "##al", "##ect", "##in",
                 "##an", "##or", "##on", "##ks", "##ms", "in", "re", "con", "pre", "tr", "st"]


def train_bpe():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB_SIZE, special_tokens=BPE_SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(TRAINING_TEXT * 4, trainer=trainer)
    return tok


def wordpiece_vocab():
    """Deterministic WordPiece vocab (the tokenizers WordPiece trainer is not):
    specials, every character alone and as "##c", then the most frequent
    lowercase words (ties broken alphabetically) up to WORDPIECE_VOCAB_SIZE."""
    normalizer = normalizers.BertNormalizer(lowercase=True)
    splitter = pre_tokenizers.BertPreTokenizer()
    counts = {}
    for line in TRAINING_TEXT:
        for word, _ in splitter.pre_tokenize_str(normalizer.normalize_str(line)):
            counts[word] = counts.get(word, 0) + 1
    chars = sorted({c for w in counts for c in w})
    vocab = list(dict.fromkeys(list(WORDPIECE_SPECIALS) + chars + ["##" + c for c in chars] + SUFFIX_PIECES))
    for word in sorted(counts, key=lambda w: (-counts[w], w)):
        if len(vocab) >= WORDPIECE_VOCAB_SIZE or counts[word] < 2:
            break
        if word not in vocab:
            vocab.append(word)
    return {t: i for i, t in enumerate(vocab)}


def train_wordpiece():
    tok = Tokenizer(models.WordPiece(vocab=wordpiece_vocab(), unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tok


def ordered_vocab(tok):
    vocab = tok.get_vocab(with_added_tokens=True)
    tokens = [None] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    assert None not in tokens, "vocabulary ids are not contiguous"
    return tokens


def bpe_gguf_meta(tok):
    """tokenizer.ggml.* for a byte-level BPE as llama.cpp writes it (model "gpt2")."""
    tokens = ordered_vocab(tok)
    merges = json.loads(tok.to_str())["model"]["merges"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in merges]
    eot = tok.token_to_id("<|endoftext|>")
    return {"model": "gpt2", "pre": "gpt-2", "tokens": tokens,
            "token_types": [3 if t in BPE_SPECIALS else 1 for t in tokens],
            "merges": merges, "bos": eot, "eos": eot, "add_bos": False}


def wordpiece_gguf_meta(tok):
    """tokenizer.ggml.* for WordPiece as llama.cpp's BERT converter writes it (model "bert"):
    word-initial pieces get a U+2581 prefix and "##" continuation prefixes are dropped."""
    raw = ordered_vocab(tok)

    def phantom(t):
        if t.startswith("[") and t.endswith("]"):
            return t
        return t[2:] if t.startswith("##") else "\u2581" + t

    ids = {t: tok.token_to_id(t) for t in WORDPIECE_SPECIALS}
    return {"model": "bert", "tokens": [phantom(t) for t in raw],
            "token_types": [3 if t in WORDPIECE_SPECIALS else 1 for t in raw],
            "bos": ids["[CLS]"], "eos": ids["[SEP]"], "sep": ids["[SEP]"], "unk": ids["[UNK]"],
            "pad": ids["[PAD]"], "mask": ids["[MASK]"], "add_bos": True, "add_eos": True}

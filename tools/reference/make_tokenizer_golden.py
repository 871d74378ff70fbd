#!/usr/bin/env python3
"""Reference token ids for the tokenizer tests, produced by Hugging Face `tokenizers` (an
independent implementation of the same algorithms).

Run from the repository root:  .venv/bin/python tools/reference/make_tokenizer_golden.py

Writes
  tests/golden/tokenizer/<name>.json   {"tokenizer": ..., "cases": [{"text", "ids",
                                        "ids_special", "decoded"}]}
  tests/data/tokenizer/smollm2_gguf_tokenizer.json   the tokenizer.ggml.* subset of SmolLM2's
                                        GGUF metadata, as engine/io's ModelFile::metadata() gives it
  tests/data/tokenizer/minilm/      all-MiniLM-L6-v2's tokenizer.json, vocab.txt, tokenizer_config
  tests/data/tokenizer/tiny_bpe/{vocab.json,merges.txt,tokenizer.json}   a GPT-2-style byte-level
                                        BPE trained here (vocab 1000)
  tests/data/tokenizer/tiny_llama3/tokenizer.json   a Llama-3-style BPE (Split regex +
                                        ByteLevel without regex, ignore_merges, BOS template)
"""
import json
import os
import shutil
import tempfile

import gguf
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from tokenizers import trainers

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS = os.path.join(ROOT, "models")
GOLDEN = os.path.join(ROOT, "tests", "golden", "tokenizer")
DATA = os.path.join(ROOT, "tests", "data", "tokenizer")

LONG_PARAGRAPH = (
    "The quick brown fox jumps over the lazy dog. Meanwhile, in 1987, researchers at "
    "three universities published 42 papers on tokenization; most of them (about 73%) "
    "argued that sub-word units — neither characters nor words — were the right trade-off. "
    "\"It's not magic,\" one of them said, \"it's statistics!\" Today, models with 135M to "
    "405B parameters read text as sequences of integers, and every byte matters: naïve "
    "splitting breaks café, 東京, and 🤖 alike. We'll see whether that's still true in 2030."
)

STRINGS = [
    "Hello world",
    "hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "   leading and trailing spaces   ",
    "multiple    spaces\tand\ttabs",
    "line one\nline two\n\nline four\r\nwindows line",
    "\n\n\n",
    "\t \t",
    "",
    " ",
    "a",
    "1234567890",
    "3.14159 and 2,718 and -42 and 1e-9",
    "year 2024: 100% of 7 items cost $19.99",
    "Numbers: 1 12 123 1234 12345 123456",
    "café naïve résumé Ångström",
    "Crème brûlée über straße",
    "东京是日本的首都。",
    "日本語のテキストとカタカナ",
    "한국어 문장입니다",
    "Emoji: 😀🎉👍🏽 and 👨‍👩‍👧",
    "مرحبا بالعالم",
    "שלום עולם",
    "Привет, мир!",
    "def f(x):\n    return x ** 2  # square\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "<html><body class=\"x\">Hi &amp; bye</body></html>",
    "I'm sure they'll say we've done what you'd've done, isn't it? It's DON'T",
    "HELLO World MiXeD CaSe",
    "punctuation!!! ??? ... --- ;;; :::",
    "email@example.com https://example.org/path?q=1&r=2",
    "tab\tseparated\tvalues",
    "<|endoftext|>",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "text before<|endoftext|>text after",
    "[CLS] hello [SEP] world [MASK] [PAD] [UNK]",
    "Zero\u200bwidth and non\u00a0breaking",
    "ﬁ ligature and ① circled and Ⅻ roman",
    "unaffable antidisestablishmentarianism",
    "A zebraquux met zebraquux.",
    "a" * 40 + " " + "=" * 40 + " " * 37 + "x",
    "supercalifragilisticexpialidocious_and_pneumonoultramicroscopicsilicovolcanoconiosis",
    LONG_PARAGRAPH,
]

# Text for training the small BPEs: the golden strings plus the all-MiniLM model card.
def training_corpus():
    with open(os.path.join(MODELS, "all-MiniLM-L6-v2", "README.md"), encoding="utf-8") as f:
        card = f.read()
    return STRINGS + [LONG_PARAGRAPH] * 3 + card.split("\n")


def cases_for(tok, add_special_supported=True):
    cases = []
    for s in STRINGS:
        ids = tok.encode(s, add_special_tokens=False).ids
        ids_special = tok.encode(s, add_special_tokens=True).ids
        decoded = tok.decode(ids_special, skip_special_tokens=True)
        cases.append({"text": s, "ids": ids, "ids_special": ids_special, "decoded": decoded})
    return cases


def write_golden(name, description, tok):
    os.makedirs(GOLDEN, exist_ok=True)
    out = {"tokenizer": description, "cases": cases_for(tok)}
    with open(os.path.join(GOLDEN, name + ".json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")


def minilm():
    # A copy of the tokenizer files (Apache-2.0) keeps the tests independent of models/.
    out = os.path.join(DATA, "minilm")
    os.makedirs(out, exist_ok=True)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json"):
        shutil.copy(os.path.join(MODELS, "all-MiniLM-L6-v2", name), os.path.join(out, name))
    tok = Tokenizer.from_file(os.path.join(out, "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    write_golden("minilm", "models/all-MiniLM-L6-v2/tokenizer.json (WordPiece)", tok)


def gguf_field(reader, key):
    field = reader.fields[key]
    if field.types[0] == gguf.GGUFValueType.ARRAY:
        if field.types[1] == gguf.GGUFValueType.STRING:
            return [bytes(field.parts[i]).decode("utf-8") for i in field.data]
        return [field.parts[i][0].item() for i in field.data]
    if field.types[0] == gguf.GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    value = field.parts[field.data[0]][0].item()
    return bool(value) if field.types[0] == gguf.GGUFValueType.BOOL else value


def smollm2():
    reader = gguf.GGUFReader(os.path.join(MODELS, "SmolLM2-135M-Instruct.Q4_1.gguf"))
    meta = {k: gguf_field(reader, k) for k in reader.fields
            if k.startswith("tokenizer.ggml.")}
    os.makedirs(DATA, exist_ok=True)
    meta_path = os.path.join(DATA, "smollm2_gguf_tokenizer.json")
    with open(meta_path, "w", encoding="utf-8") as f:
        json.dump(meta, f, ensure_ascii=False, separators=(",", ":"))
    print(meta_path, os.path.getsize(meta_path), "bytes")

    tokens = meta["tokenizer.ggml.tokens"]
    vocab = {t: i for i, t in enumerate(tokens)}
    merges = [tuple(m.split(" ", 1)) for m in meta["tokenizer.ggml.merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    # SmolLM2's own tokenizer.json: Sequence[Digits(individual), ByteLevel(no prefix, regex)].
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    special = [t for t, ty in zip(tokens, meta["tokenizer.ggml.token_type"]) if ty in (3, 4)]
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special])
    write_golden("smollm2", "SmolLM2-135M GGUF vocab + HF SmolLM2 pre-tokenizer", tok)


def train_bpe(pre_tokenizer, special_tokens, vocab_size=1000):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special_tokens,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(training_corpus(), trainer)
    return tok


def tiny_bpe():
    tok = train_bpe(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
                    ["<|endoftext|>"])
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    out = os.path.join(DATA, "tiny_bpe")
    os.makedirs(out, exist_ok=True)
    tok.save(os.path.join(out, "tokenizer.json"))
    with tempfile.TemporaryDirectory() as tmp:
        tok.model.save(tmp, "tiny")
        shutil.copy(os.path.join(tmp, "tiny-vocab.json"), os.path.join(out, "vocab.json"))
        shutil.copy(os.path.join(tmp, "tiny-merges.txt"), os.path.join(out, "merges.txt"))
    write_golden("tiny_bpe", "tests/data/tokenizer/tiny_bpe (GPT-2 style, trained)", tok)


LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def tiny_llama3():
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tok = train_bpe(pre, ["<|begin_of_text|>", "<|end_of_text|>"], vocab_size=800)
    vocab = tok.get_vocab()
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
        special_tokens=[("<|begin_of_text|>", vocab["<|begin_of_text|>"])])
    out = os.path.join(DATA, "tiny_llama3")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "tokenizer.json")
    tok.save(path)
    # Llama 3 sets ignore_merges: a word that is itself a token is not merged piece by piece.
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    doc["model"]["ignore_merges"] = True
    # Tokens no merge sequence builds, so that ignore_merges changes the result for them.
    for word in ("zebraquux", "\u0120zebraquux"):
        doc["model"]["vocab"][word] = len(doc["model"]["vocab"])
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
    tok = Tokenizer.from_file(path)
    write_golden("tiny_llama3", "tests/data/tokenizer/tiny_llama3 (Llama 3 style, trained)", tok)


if __name__ == "__main__":
    minilm()
    smollm2()
    tiny_bpe()
    tiny_llama3()

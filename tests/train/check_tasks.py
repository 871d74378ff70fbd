#!/usr/bin/env python3
"""The task generators of tools/train/tasks.py: every answer checked by reading the example's text
back (not the generator's state), the same examples for the same seed, train and held-out apart,
the committed held-out sets and tokenizer equal to what the generator writes, and Hugging Face's
tokenizers turning each text into exactly its words."""

import random
import json
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "train"))
import tasks  # noqa: E402


def answer_words(e):
    return [e.words[p] for p in e.answers]


def read_mqar(words):
    """The value each key was given, and each query's expected value, from the text."""
    bound, expected, seen = {}, [], set()
    for i in range(0, len(words), 2):
        key, value = words[i], words[i + 1]
        if key in seen:
            expected.append(bound[key])
        else:
            bound[key] = value
            seen.add(key)
    return expected


def read_babi(words):
    """Replays a bAbI story sentence by sentence; returns the expected answer of each question."""
    at, holder, lies, expected = {}, {}, {}, []
    sentences, current = [], []
    for w in words:
        current.append(w)
        if w in (".", "?"):
            sentences.append(current)
            current = []
    for s in sentences:
        if s[0] == "where":  # where is [the] X ?  (the answer sentence follows)
            subject = s[-2]
            expected.append(at[subject] if subject in tasks.PEOPLE else
                            at[holder[subject]] if subject in holder else lies[subject])
        elif s[0] in tasks.ROOMS:  # an answer line: "<room> ."
            continue
        elif s[1] in tasks.MOVES:
            at[s[0]] = s[4]
        elif s[1] in tasks.TAKES:
            holder[s[-2]] = s[0]
            lies.pop(s[-2], None)
        elif s[1] in tasks.DROPS:
            lies[s[-2]] = at[s[0]]
            holder.pop(s[-2])
        else:
            raise AssertionError(f"unknown sentence {s}")
    return expected


class Tasks(unittest.TestCase):
    def test_answers_follow_from_the_text(self):
        for length in tasks.HELDOUT_LENGTHS["mqar"]:
            for e in tasks.examples("mqar", "heldout", length, 50):
                self.assertEqual(answer_words(e), read_mqar(e.words))
                self.assertEqual(len(e.answers), length)
        for length in tasks.HELDOUT_LENGTHS["selective_copy"]:
            for e in tasks.examples("selective_copy", "heldout", length, 50):
                marker = e.words.index("copy")
                self.assertEqual(marker, length)
                self.assertEqual(answer_words(e), [w for w in e.words[:marker] if w != "."])
        for length in tasks.HELDOUT_LENGTHS["passkey"]:
            for e in tasks.examples("passkey", "heldout", length, 50):
                text = e.text()
                hidden = text.index("the pass key is ") + len("the pass key is ")
                self.assertEqual(answer_words(e), text[hidden:].split()[:4])
                self.assertEqual(e.answers[-1], len(e.words) - 1)
        for task in ("babi_single", "babi_two"):
            for length in tasks.HELDOUT_LENGTHS[task]:
                for e in tasks.examples(task, "heldout", length, 50):
                    self.assertEqual(answer_words(e), read_babi(e.words), e.text())

    def test_answers_are_predicted_from_earlier_tokens(self):
        for task in tasks.GENERATORS:
            for e in tasks.examples(task, "heldout", tasks.TRAIN_LENGTHS[task][0], 20):
                self.assertTrue(e.answers)
                self.assertTrue(all(0 < p < len(e.words) for p in e.answers))
                self.assertEqual(e.answers, sorted(set(e.answers)))

    def test_same_seed_same_examples_and_splits_differ(self):
        for task in tasks.GENERATORS:
            length = tasks.TRAIN_LENGTHS[task][-1]
            a = [e.text() for e in tasks.examples(task, "heldout", length, 30)]
            self.assertEqual(a, [e.text() for e in tasks.examples(task, "heldout", length, 30)])
            heldout = {e.text() for e in tasks.examples(task, "heldout", length, tasks.HELDOUT_PER_LENGTH)}
            rng = random.Random(tasks.SPLIT_SEEDS["train"])
            train = {e.text() for e in tasks.training_batch(task, rng, 3000)}
            self.assertFalse(heldout & train, f"{task}: held-out examples among the training ones")

    def test_bad_lengths_are_refused_by_name(self):
        for task, bad in [("mqar", 65), ("mqar", 0), ("selective_copy", 3), ("passkey", 0), ("babi_single", 0),
                          ("babi_two", 1)]:
            with self.assertRaisesRegex(ValueError, task):
                tasks.examples(task, "heldout", bad, 1)
        with self.assertRaisesRegex(ValueError, "unknown task 'nope'"):
            tasks.examples("nope", "heldout", 4, 1)

    def test_committed_heldout_sets_are_the_generators(self):
        with tempfile.TemporaryDirectory() as d:
            tasks.write_heldout(Path(d))
            written = sorted(p.relative_to(d) for p in Path(d).rglob("*") if p.is_file())
            committed = sorted(p.relative_to(tasks.TASKS_DIR) for p in tasks.TASKS_DIR.rglob("*") if p.is_file()
                               and p.name != "README.md")
            self.assertEqual(written, committed, "assets/tasks differs from `tasks.py write-heldout`")
            for rel in written:
                self.assertEqual((Path(d) / rel).read_bytes(), (tasks.TASKS_DIR / rel).read_bytes(), str(rel))

    def test_committed_task_prompts_are_held_out_examples(self):
        with tempfile.TemporaryDirectory() as d:
            tasks.write_prompts(Path(d))
            for task in tasks.GENERATORS:
                committed = tasks.prompt_path(task)
                self.assertEqual(tasks.prompt_path(task, Path(d)).read_bytes(), committed.read_bytes(), str(committed))
                line = json.loads(committed.read_text())
                self.assertIn(line, [e.to_json() for e in tasks.load_heldout(task, line["length"])])

    def test_hugging_face_tokenizers_split_every_text_into_its_words(self):
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(str(tasks.TASKS_DIR / "tokenizer.json"))
        for task, lengths in tasks.HELDOUT_LENGTHS.items():
            for e in tasks.load_heldout(task, lengths[-1])[:20]:
                self.assertEqual(tok.encode(e.text()).ids, e.ids)
                self.assertNotIn(tasks.TOKEN_ID["[UNK]"], e.ids)


if __name__ == "__main__":
    unittest.main()

#!/usr/bin/python3
"""An independent Python implementation of transformers' two CLIP tokenizers, for the tests of
src/text/clip_tokenizer.cpp, and a tiny BPE trainer to make a vocabulary for it:
  fast: CLIPTokenizerFast, what AutoTokenizer and so the zero-shot pipeline load (tokenizers'
        CLIPConverter: NFC, Replace(\s+, " "), Lowercase, special tokens matched on the
        normalised text, Split(pattern without the special tokens, case-sensitive), ByteLevel,
        BPE with "</w>"). Oniguruma's \s is White_Space (\t-\r, U+0085, Zs, Zl, Zp); Rust's
        char::to_lowercase maps code point by code point (no Final_Sigma).
  slow: CLIPTokenizer without ftfy, as described next.

No `regex` module and no transformers: the pre-tokenisation pattern
  <\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+
(re.IGNORECASE) is matched by hand with unicodedata's categories; the slow clean-up is
transformers' BasicTokenizer(do_lower_case=True, strip_accents=False, do_split_on_punc=False)
written out.

  clip_tokenizer_reference.py case --out DIR [--count N] [--merges M] [--seed S]
      trains BPE (M merges) on /usr/share/common-licenses/* plus generated multilingual text,
      writes DIR/vocab.json, DIR/merges.txt (CLIP's layout: 256 bytes, 256 bytes + "</w>", the
      merges, then <|startoftext|> <|endoftext|>), DIR/tokenizer.json (the same BPE model only),
      DIR/strings.json (N test strings) and DIR/expected.json ([{"tokens": [...], "ids": [...]}],
      ids with start/end tokens, truncated to 77; the slow tokenizer) and DIR/expected_fast.json
      (the same from the fast one).
  clip_tokenizer_reference.py encode --model DIR [--slow] --text TEXT...   prints the ids as JSON
      lines
"""

import argparse
import collections
import glob
import json
import os
import random
import sys
import unicodedata

BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_ENCODER = bytes_to_unicode()


def is_whitespace(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def is_control(ch):
    return ch not in "\t\n\r" and unicodedata.category(ch).startswith("C")


def is_chinese(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokenize(text):
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or is_control(ch):
            continue
        if is_whitespace(ch):
            out.append(" ")
        elif is_chinese(cp):
            out.append(" " + ch + " ")
        else:
            out.append(ch)
    text = unicodedata.normalize("NFC", "".join(out))
    return [t.lower() for t in text.strip().split()]


# Oniguruma's \s in Unicode mode, which is the White_Space property.
def is_white_space(ch):
    return ch in "\t\n\x0b\x0c\r\x85" or unicodedata.category(ch) in ("Zs", "Zl", "Zp")


def fast_normalize(text):
    """NFC, every run of White_Space to one space, then each code point lower-cased alone."""
    out, in_space = [], False
    for ch in unicodedata.normalize("NFC", text):
        if is_white_space(ch):
            if not in_space:
                out.append(" ")
            in_space = True
        else:
            out.append(ch.lower())
            in_space = False
    return "".join(out)


def is_l(ch):
    return unicodedata.category(ch).startswith("L")


def is_n(ch):
    return unicodedata.category(ch).startswith("N")


def same_ci(ch, want):
    # re.IGNORECASE: characters whose simple case folding is the ASCII letter
    return ch == want or ch.upper() == want.upper() and len(ch.upper()) == 1 and \
        ch.casefold() == want


def pre_tokenize(text, fast=False):
    # fast: the Split regex has no IGNORECASE and tokenizers' \s is White_Space
    space = is_white_space if fast else str.isspace
    out = []
    i, n = 0, len(text)
    while i < n:
        m = 0
        if text.startswith(BOS, i):
            m = len(BOS)
        elif text.startswith(EOS, i):
            m = len(EOS)
        elif text[i] == "'" and i + 1 < n:
            a = text[i + 1]
            b = text[i + 2] if i + 2 < n else ""
            for c in ("s", "t", "re", "ve", "m", "ll", "d"):
                eq = (lambda x, y: x == y) if fast else same_ci
                if eq(a, c[0]) and (len(c) == 1 or (b and eq(b, c[1]))):
                    m = len(c) + 1
                    break
        if m == 0:
            ch = text[i]
            if is_l(ch):
                m = 1
                while i + m < n and is_l(text[i + m]):
                    m += 1
            elif is_n(ch):
                m = 1
            elif not space(ch):
                m = 1
                while i + m < n and not (space(text[i + m]) or is_l(text[i + m]) or
                                         is_n(text[i + m])):
                    m += 1
            else:
                i += 1
                continue
        out.append(text[i:i + m])
        i += m
    return out


class Tokenizer:
    def __init__(self, model_dir, fast=True):
        self.fast = fast
        with open(os.path.join(model_dir, "vocab.json"), encoding="utf-8") as f:
            self.encoder = json.load(f)
        with open(os.path.join(model_dir, "merges.txt"), encoding="utf-8") as f:
            lines = f.read().strip().split("\n")[1:49152 - 256 - 2 + 1]
        self.ranks = dict(zip([tuple(l.split()) for l in lines], range(len(lines))))
        self.specials = [BOS, EOS]

    def bpe(self, token):
        if token in (BOS, EOS):
            return [token]
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        return word

    def tokenize_plain(self, text):
        out = []
        if not self.fast:
            text = " ".join(basic_tokenize(text))
        for piece in pre_tokenize(text, self.fast):
            out += self.bpe("".join(BYTE_ENCODER[b] for b in piece.encode("utf-8")))
        return out

    def tokenize(self, text):
        if self.fast:  # the special tokens are "normalized": matched after the normaliser
            text = fast_normalize(text)
        out, plain, i = [], 0, 0
        while i < len(text):
            hit = max((s for s in self.specials if text.startswith(s, i)), key=len, default=None)
            if hit is None:
                i += 1
                continue
            out += self.tokenize_plain(text[plain:i])
            out.append(hit)
            i += len(hit)
            plain = i
        return out + self.tokenize_plain(text[plain:])

    def encode(self, text, max_length=77):
        ids = [self.encoder.get(t, self.encoder[EOS]) for t in self.tokenize(text)]
        return [self.encoder[BOS]] + ids[:max_length - 2] + [self.encoder[EOS]]


# --- test material ---------------------------------------------------------------------------

POOLS = {
    "punct": list(".,!?;:-()[]{}\"'`~@#$%^&*_+=/\\|<>…—–«»¿¡“”‘’•·"),
    "digits": ["0", "1", "42", "2024", "3.14", "1,000", "١٢٣", "Ⅻ", "½", "²", "٣", "५"],
    "contractions": ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'M",
                     "'LL", "'D", "'x", "'", "’s", "'ſ", "''s", "'sre", "'lL"],
    "accents": ["café", "naïve", "Straße", "ÀÉÎÕÜ", "ñandú", "e\u0301", "A\u030a", "Ångström",
                "ﬁ", "Œuvre", "İstanbul", "ıI", "ǅ", "ΣΟΦΟΣ", "Σίσυφος", "ὈΔΥΣΣΕΎΣ", "łódź",
                "Kelvin\u212a", "ſtreet"],
    "emoji": ["🗑️", "♻️", "🚮", "👍🏽", "🇳🇱", "👨‍👩‍👧", "😀", "🙈🙉", "\u2764\ufe0f"],
    "cjk": ["垃圾桶", "中文", "日本語", "ゴミ箱", "쓰레기통", "丟", "𠀀", "豈", "ｶﾀｶﾅ", "ＡＢＣ"],
    "scripts": ["улица", "мусорка", "صندوق", "कूड़ादान", "ถังขยะ", "ქუჩა", "עִבְרִית", "Ελλάδα"],
    "spaces": [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2028", "\u2029", "\x0b",
               "\x1c", "\x85", "   \t "],
    "control": ["\x00", "\x07", "\u200b", "\ufeff", "\ufffd", "\u00ad", "\ue000", "\x7f"],
    "special": [BOS, EOS, "<|ENDOFTEXT|>", "<|startoftext|", "</w>", "<|endoftext|><|endoftext|>"],
}
WORDS = ["bin", "trash", "a", "photo", "of", "the", "street", "underground", "waste",
         "container", "litter", "lamp", "post", "green", "wheelie", "glass", "paper", "bank",
         "This", "is", "NO", "Bin", "ashcan", "dustbin", "recycling", "it", "don", "we", "they"]


def random_string(rng):
    kind = rng.random()
    if kind < 0.02:
        return ""
    parts = []
    for _ in range(rng.randint(1, 14)):
        r = rng.random()
        if r < 0.35:
            parts.append(rng.choice(WORDS))
        else:
            parts.append(rng.choice(POOLS[rng.choice(sorted(POOLS))]))
        if rng.random() < 0.6:
            parts.append(" ")
    s = "".join(parts)
    if rng.random() < 0.05:  # beyond the context length
        s = " ".join([s] * 30)
    return s


def corpus_words(texts):
    counts = collections.Counter()
    for t in texts:
        for piece in pre_tokenize(" ".join(basic_tokenize(t))):
            if piece in (BOS, EOS):
                continue
            counts[tuple("".join(BYTE_ENCODER[b] for b in piece.encode("utf-8")))] += 1
    return counts


def train(texts, merges_wanted):
    words = {}
    for w, c in corpus_words(texts).items():
        words[w[:-1] + (w[-1] + "</w>",)] = words.get(w[:-1] + (w[-1] + "</w>",), 0) + c
    words = [[list(w), c] for w, c in words.items()]
    pairs = collections.Counter()
    where = collections.defaultdict(set)
    for k, (w, c) in enumerate(words):
        for p in zip(w, w[1:]):
            pairs[p] += c
            where[p].add(k)
    merges = []
    while len(merges) < merges_wanted and pairs:
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        if pairs[best] < 2:
            break
        merges.append(best)
        for k in list(where[best]):
            w, c = words[k]
            for p in zip(w, w[1:]):
                pairs[p] -= c
                if pairs[p] <= 0:
                    del pairs[p]
            nw, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    nw.append(w[i] + w[i + 1])
                    i += 2
                else:
                    nw.append(w[i])
                    i += 1
            words[k][0] = nw
            for p in zip(nw, nw[1:]):
                pairs[p] += c
                where[p].add(k)
        pairs.pop(best, None)
    return merges


def write_model(out, merges):
    os.makedirs(out, exist_ok=True)
    base = list(BYTE_ENCODER.values())
    vocab = base + [v + "</w>" for v in base] + ["".join(m) for m in merges] + [BOS, EOS]
    encoder = {}
    for v in vocab:
        encoder.setdefault(v, len(encoder))
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(encoder, f, ensure_ascii=False)
    with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump({"version": "1.0", "model": {"type": "BPE", "vocab": encoder,
                                               "merges": [f"{a} {b}" for a, b in merges],
                                               "end_of_word_suffix": "</w>"}}, f,
                  ensure_ascii=False)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("case")
    c.add_argument("--out", required=True)
    c.add_argument("--count", type=int, default=3000)
    c.add_argument("--merges", type=int, default=1500)
    c.add_argument("--seed", type=int, default=13)
    e = sub.add_parser("encode")
    e.add_argument("--model", required=True)
    e.add_argument("--slow", action="store_true")
    e.add_argument("--text", nargs="+", required=True)
    a = ap.parse_args(argv)
    if a.cmd == "encode":
        tok = Tokenizer(a.model, fast=not a.slow)
        for t in a.text:
            print(json.dumps(tok.encode(t)))
        return 0
    rng = random.Random(a.seed)
    texts = []
    for path in sorted(glob.glob("/usr/share/common-licenses/*")):
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                texts.append(f.read())
    texts += [random_string(random.Random(a.seed + 1000 + i)) for i in range(3000)]
    write_model(a.out, train(texts, a.merges))
    strings = [random_string(rng) for _ in range(a.count)]
    # fixed cases first: the empty string, whitespace only, each pool item alone
    fixed = ["", " ", "\t\n  \u3000", "a photo of a trash bin.", "It's a bin, isn't it? We'll see!"]
    for pool in POOLS.values():
        fixed += pool
    strings = fixed + strings
    with open(os.path.join(a.out, "strings.json"), "w", encoding="utf-8") as f:
        json.dump(strings, f, ensure_ascii=False)
    for name, fast in (("expected.json", False), ("expected_fast.json", True)):
        tok = Tokenizer(a.out, fast)
        with open(os.path.join(a.out, name), "w", encoding="utf-8") as f:
            json.dump([{"tokens": tok.tokenize(s), "ids": tok.encode(s)} for s in strings], f,
                      ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

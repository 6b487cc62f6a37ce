"""A word n-gram language model built by the project from its own training text, written as an ARPA file that
KenLM (``pip install kenlm``) loads and pyctcdecode's ``BeamSearchDecoderCTC`` uses (``kenlm_model_path`` or
``LanguageModel``) for the LM beam search of the ASR.

    python -m triton_speech.training.language_model --text build/text/train.txt --templates 20000 \\
        --min-count 1 3 3 --exclude tests/data/general_heldout/sentences.txt \\
        --exclude tests/data/asr_heldout/manifest.json --output defaults/lm_general.arpa

Estimation is interpolated Kneser-Ney (one absolute discount per order, D = n1 / (n1 + 2 n2); continuation
counts for the lower orders, except n-grams that start with <s>), in plain Python: no estimation tool is
needed (Debian has no KenLM ``lmplz``). Pruning keeps the file small: every word of the text is a unigram, but
bigrams and trigrams seen fewer than ``--min-count`` times are dropped, and each remaining context's backoff
weight is recomputed so that every conditional distribution still sums to one (tested through KenLM).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from triton_speech.corpus.templates import DEMO_ASR_TEXT
from triton_speech.corpus.templates import sentences as template_sentences

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
LOG10_ZERO = -99.0


def _discount(counts: Iterable[int]) -> float:
    histogram = Counter(c for c in counts if c <= 2)
    n1, n2 = histogram[1], histogram[2]
    return n1 / (n1 + 2 * n2) if n1 and n2 else 0.5


def estimate(sentences: Iterable[str], order: int = 3, min_counts: Sequence[int] = (1, 2, 2)) -> dict:
    """Interpolated Kneser-Ney probabilities and backoff weights of every kept n-gram.

    Returns ``{"probs": [dict per order: ngram tuple -> log10 p], "backoffs": [dict per order: ngram -> log10 bo]}``;
    ``min_counts[n-1]`` is the least raw count an n-gram (n >= 2) needs to be kept."""
    if order < 2:
        raise ValueError("order must be at least 2")
    min_counts = list(min_counts) + [min_counts[-1]] * (order - len(min_counts))
    raw: list[Counter] = [Counter() for _ in range(order)]
    for sentence in sentences:
        words = [BOS, *sentence.split(), EOS]
        for n in range(1, order + 1):
            grams = raw[n - 1]
            for i in range(len(words) - n + 1):
                grams[tuple(words[i:i + n])] += 1
    if not raw[0]:
        raise ValueError("no text to estimate from")
    # Kneser-Ney counts: the highest order keeps raw counts, lower orders count distinct left contexts, except
    # n-grams starting with <s> (nothing can precede them).
    kn: list[Counter] = [Counter() for _ in range(order)]
    kn[order - 1] = raw[order - 1]
    for n in range(order, 1, -1):
        for gram in raw[n - 1]:
            kn[n - 2][gram[1:]] += 1
    for n in range(1, order):
        for gram, count in raw[n - 1].items():
            if gram[0] == BOS:
                kn[n - 1][gram] = count
    kn[0].pop((BOS,), None)
    discounts = [_discount(kn[n].values()) for n in range(order)]

    # Unigrams: discounted, interpolated with the uniform distribution over the vocabulary (and <unk>).
    vocabulary = [gram for gram in kn[0]]
    total = sum(kn[0].values())
    uniform_mass = discounts[0] * len(vocabulary) / total
    size = len(vocabulary) + 1  # + <unk>
    probs: list[dict] = [dict() for _ in range(order)]
    for gram in vocabulary:
        probs[0][gram] = (max(kn[0][gram] - discounts[0], 0.0) / total) + uniform_mass / size
    probs[0][(UNK,)] = uniform_mass / size

    def lower(gram: tuple) -> float:
        """Interpolated probability of ``gram``'s last word given its context minus the first word."""
        shorter = gram[1:]
        if len(shorter) == 1:
            return probs[0].get(shorter, probs[0][(UNK,)])
        return full[len(shorter) - 1](shorter)

    cache: list[dict] = [dict() for _ in range(order)]
    context_totals: list[dict] = [dict() for _ in range(order)]
    context_types: list[dict] = [dict() for _ in range(order)]
    for n in range(2, order + 1):
        totals, types = defaultdict(int), defaultdict(int)
        for gram, count in kn[n - 1].items():
            totals[gram[:-1]] += count
            types[gram[:-1]] += 1
        context_totals[n - 1], context_types[n - 1] = totals, types

    def make_full(n: int):
        counts, totals, types, discount = kn[n - 1], context_totals[n - 1], context_types[n - 1], discounts[n - 1]

        def p(gram: tuple) -> float:
            if gram in cache[n - 1]:
                return cache[n - 1][gram]
            context = gram[:-1]
            if context not in totals:
                value = lower(gram)
            else:
                kept = max(counts.get(gram, 0) - discount, 0.0)
                value = (kept + discount * types[context] * lower(gram)) / totals[context]
            cache[n - 1][gram] = value
            return value
        return p

    full = [None] + [make_full(n) for n in range(2, order + 1)]
    for n in range(2, order + 1):
        for gram, count in raw[n - 1].items():
            if count >= min_counts[n - 1] and all(gram[i:] in probs[n - 1 - i] or i == 0
                                                  for i in range(1, n)):
                probs[n - 1][gram] = full[n - 1](gram)
    # A kept n-gram's context must itself be kept (ARPA needs a backoff for it): add missing prefixes.
    for n in range(order, 2, -1):
        for gram in list(probs[n - 1]):
            for k in range(2, n):
                prefix = gram[:k]
                if prefix not in probs[k - 1]:
                    probs[k - 1][prefix] = full[k - 1](prefix)

    # Backoff of each context: the mass its kept continuations leave, over what the lower order gives them.
    backoffs: list[dict] = [dict() for _ in range(order)]
    kept_by_context: list[dict] = [defaultdict(list) for _ in range(order)]
    for n in range(2, order + 1):
        for gram in probs[n - 1]:
            kept_by_context[n - 1][gram[:-1]].append(gram)
    for n in range(1, order):
        for context in probs[n - 1]:
            children = kept_by_context[n].get(context, [])
            if context == (EOS,):
                continue
            numerator = 1.0 - sum(probs[n][g] for g in children)
            denominator = 1.0 - sum(lower(g) for g in children)
            # A context with no kept continuation backs off with weight 1 (log 0): with no kept children,
            # p(w|h) = p_lower(w|h') exactly, and the lower model already sums to one. So does one whose kept
            # continuations leave no mass to spread (a numerator or denominator of 0 within rounding).
            ok = children and denominator > 1e-12 and numerator > 1e-12
            backoffs[n - 1][context] = math.log10(numerator / denominator) if ok else 0.0
    log_probs = [{g: math.log10(p) for g, p in level.items()} for level in probs]
    log_probs[0][(BOS,)] = LOG10_ZERO
    backoffs[0].setdefault((BOS,), 0.0)
    _bos_backoff(order, probs, backoffs, lower)
    return {"probs": log_probs, "backoffs": backoffs, "discounts": discounts}


def _bos_backoff(order, probs, backoffs, lower):
    children = [g for g in probs[1] if g[0] == BOS] if order >= 2 else []
    numerator = 1.0 - sum(probs[1][g] for g in children)
    denominator = 1.0 - sum(lower(g) for g in children)
    if children and numerator > 1e-12 and denominator > 1e-12:
        backoffs[0][(BOS,)] = math.log10(numerator / denominator)


def write_arpa(model: dict, path: Path) -> Path:
    """The model as an ARPA file (what KenLM and pyctcdecode read)."""
    probs, backoffs = model["probs"], model["backoffs"]
    order = len(probs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        out.write("\n\\data\\\n")
        for n in range(order):
            out.write(f"ngram {n + 1}={len(probs[n])}\n")
        for n in range(order):
            out.write(f"\n\\{n + 1}-grams:\n")
            for gram in sorted(probs[n]):
                line = f"{probs[n][gram]:.6f}\t{' '.join(gram)}"
                if n < order - 1 and gram in backoffs[n] and gram != (EOS,):
                    line += f"\t{backoffs[n][gram]:.6f}"
                out.write(line + "\n")
        out.write("\n\\end\\\n")
    return path


def build(text: Path, output: Path, order: int = 3, min_counts: Sequence[int] = (1, 2, 2), templates: int = 0,
          seed: int = 0, exclude: set[str] = frozenset()) -> dict:
    """Estimate from ``text`` (one sentence a line) plus ``templates`` template sentences; write ARPA."""
    sentences = [line.strip() for line in Path(text).read_text().splitlines() if line.strip()]
    if templates:
        sentences += template_sentences(templates, seed, exclude=set(exclude) | {DEMO_ASR_TEXT})
    sentences = [s for s in sentences if s not in exclude]
    model = estimate(sentences, order, min_counts)
    write_arpa(model, output)
    summary = {"text": str(text), "sentences": len(sentences), "template_sentences": templates, "order": order,
               "min_counts": list(min_counts), "ngrams": [len(level) for level in model["probs"]],
               "discounts": [round(d, 4) for d in model["discounts"]], "bytes": Path(output).stat().st_size,
               "estimation": "interpolated Kneser-Ney, pruned, backoffs renormalized "
                             "(triton_speech.training.language_model)"}
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triton_speech.training.language_model", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", type=Path, default=Path("build/text/train.txt"))
    parser.add_argument("--output", type=Path, default=Path("defaults/lm_general.arpa"))
    parser.add_argument("--order", type=int, default=3)
    parser.add_argument("--min-count", type=int, nargs="+", default=[1, 2, 2],
                        help="least count kept per order (unigrams, bigrams, trigrams...)")
    parser.add_argument("--templates", type=int, default=0, help="template sentences added (corpus.templates)")
    parser.add_argument("--exclude", type=Path, action="append", default=[], metavar="TXT_OR_MANIFEST",
                        help="sentences never used: one a line, or a NeMo manifest's texts (repeatable)")
    args = parser.parse_args(argv)
    exclude = set()
    for path in args.exclude:  # a NeMo manifest (.json) or one sentence a line
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        exclude |= {json.loads(line)["text"] for line in lines} if path.suffix == ".json" else set(lines)
    summary = build(args.text, args.output, args.order, args.min_count, args.templates, exclude=exclude)
    args.output.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

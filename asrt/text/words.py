"""Words for the word-level LM (``lm.unit: word``): segmentation and pronunciation probabilities.

- Sentences are segmented with jieba's dictionary (no HMM guesses, so every word is a dictionary word
  and the segmentation of a sentence never depends on others).
- A word's readings are counted where it occurs: the LM text is read in context exactly as labels are
  (:func:`asrt.text.pinyin.text_to_pinyin`, pypinyin's phrase dictionary, 一/不 sandhi included) and each
  word takes its characters' syllables. Every other reading pypinyin knows (every combination of a
  polyphone's readings, up to ``MAX_COMBINATIONS``) is kept with a small pseudo-count, so that a rare
  reading still decodes but never beats the usual one on the lexicon alone.
- The lexicon's pronunciation probabilities (Kaldi's ``lexiconp.txt``) are those counts, smoothed and
  divided by the word's most frequent reading, so the usual reading costs nothing in the graph.
"""
from __future__ import annotations

import functools
import itertools
import logging
import math
from collections import Counter, defaultdict
from typing import Iterable

from asrt.text.pinyin import char_readings, normalize_syllable, syllable_set, text_to_pinyin

MAX_COMBINATIONS = 16  # readings of a word not in pypinyin's phrase dictionary (products of its characters')

# Pronunciation counts: {word: Counter({"syl syl": count})}
ReadingCounts = dict[str, Counter]


@functools.lru_cache(maxsize=1)
def _tokenizer():
    import jieba

    jieba.setLogLevel(logging.WARNING)  # its dictionary-loading chatter
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def segment(sentence: str) -> list[str]:
    """The words of a normalised sentence (CJK characters only), by jieba's dictionary."""
    return _tokenizer().lcut(sentence, HMM=False)


def count_readings(segmented: Iterable[list[str]]) -> ReadingCounts:
    """How often each word (and each character, also inside longer words) is read each way in context."""
    counts: ReadingCounts = defaultdict(Counter)
    for words in segmented:
        try:
            syllables = text_to_pinyin("".join(words))
        except ValueError:  # a character without a reading: the sentence adds no counts
            continue
        i = 0
        for word in words:
            counts[word][" ".join(syllables[i:i + len(word)])] += 1
            if len(word) > 1:
                for j, ch in enumerate(word):
                    counts[ch][syllables[i + j]] += 1
            i += len(word)
    return dict(counts)


def dictionary_readings(word: str) -> list[str]:
    """Every reading pypinyin gives ``word``: its phrase reading(s), or combinations of its characters'."""
    from pypinyin import Style, pinyin

    if len(word) == 1:
        return list(char_readings(word))
    per_char = pinyin(word, style=Style.TONE3, heteronym=True, neutral_tone_with_five=True, errors=lambda x: [])
    if len(per_char) != len(word):
        return []
    readings = []
    for combo in itertools.islice(itertools.product(*per_char), MAX_COMBINATIONS):
        try:
            syllables = [normalize_syllable(s) for s in combo]
        except ValueError:
            continue
        reading = " ".join(syllables)
        if set(syllables) <= syllable_set() and reading not in readings:
            readings.append(reading)
    return readings


def pronunciation_costs(counts: Counter, extra: Iterable[str], pseudo_count: float) -> dict[str, float]:
    """``-ln(p / p_max)`` of each reading of a word: its context ``counts`` plus ``pseudo_count`` for each
    reading (``extra`` ones included), so the most frequent reading costs 0."""
    readings = {r: c + pseudo_count for r, c in counts.items()}
    for r in extra:
        readings.setdefault(r, pseudo_count)
    best = max(readings.values())
    return {r: round(math.log(best / c), 4) for r, c in readings.items()}

"""Per-corpus transcript rules (each corpus module's ``TEXT_RULES``) on top of the shared normalisation."""
from __future__ import annotations

import pytest

from asrt.corpora import CORPORA, aishell, get_corpus, thchs30
from asrt.text.normalize import DEFAULT_RULES, TextRules, normalize_transcript


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_a_corpus_with_rules_of_its_own_says_what_its_transcripts_hold(name):
    rules = getattr(get_corpus(name), "TEXT_RULES", DEFAULT_RULES)
    assert isinstance(rules, TextRules) and rules.note


def test_default_rules_are_the_shared_rule():
    assert normalize_transcript("１９９８年，你好！", DEFAULT_RULES) == normalize_transcript("１９９８年，你好！")


def test_aishell_words_are_joined_and_letters_reject():
    assert normalize_transcript("而 对 楼市 成交 抑制 作用 最 大 的 限 购", aishell.TEXT_RULES) == "而对楼市成交抑制作用最大的限购"
    assert normalize_transcript("做 ｂ 超 检查", aishell.TEXT_RULES) is None


def test_thchs30_annotation_marker_is_removed():
    line = "徐 希君 肖 金生 刘 文华 屈 永利 王开 宇 骆 瑛 等 也 被 分别 判处 l = 六年 至 十 五年 有期徒刑"
    assert normalize_transcript(line, thchs30.TEXT_RULES) == "徐希君肖金生刘文华屈永利王开宇骆瑛等也被分别判处六年至十五年有期徒刑"
    assert normalize_transcript(line) is None  # the shared rule alone rejects the stray letter


def test_remove_runs_after_width_folding_and_reject_wins():
    rules = TextRules(remove=(r"\[(FIL|SPK)\]",), reject=(r"\[\*\]",))
    assert normalize_transcript("［ＦＩＬ］你好[SPK]世界", rules) == "你好世界"
    assert normalize_transcript("你好[*]世界", rules) is None
    assert normalize_transcript("你好[NOISE]", rules) is None  # an unknown marker leaves letters

"""Transcript normalisation: width folding, digit reading, punctuation removal, rejection; clause splitting."""
from __future__ import annotations

import pytest

from asrt.text.normalize import normalize_transcript, split_clauses


@pytest.mark.parametrize("raw, expected", [
    ("１９９８年", "一九九八年"),
    ("1998年", "一九九八年"),
    ("２００８年８月８日", "二零零八年八月八日"),
    ("一九九七年十二月三十一日", "一九九七年十二月三十一日"),
    ("〇", "零"),
    ("百分之５０％", "百分之五零"),
])
def test_digits_are_folded_and_read_one_by_one(raw, expected):
    assert normalize_transcript(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("你好，世界！", "你好世界"),
    ("他说：“好。”", "他说好"),
    ("《迈向充满希望的新世纪》", "迈向充满希望的新世纪"),
    ("中共中央总书记、国家主席", "中共中央总书记国家主席"),
    ("你好, 世界! (测试) \"引号\"; 完?", "你好世界测试引号完"),
    ("  前后 空格\t\n", "前后空格"),
    ("新世纪——一九九八年……", "新世纪一九九八年"),
])
def test_punctuation_and_space_are_removed(raw, expected):
    assert normalize_transcript(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("增长了５０％", "增长了百分之五零"),
    ("百分之５０％", "百分之五零"),  # the sign already written out is not read twice
    ("利率3.5%", "利率百分之三点五"),
    ("浓度5‰", "浓度千分之五"),
    ("气温２５℃", "气温二五摄氏度"),
    ("气温２５°C", "气温二五摄氏度"),
    ("零下５°", "零下五度"),
    ("体温98.6℉", "体温九八点六华氏度"),
    ("第Ⅱ期", "第二期"),
    ("ⅲ", "三"),
])
def test_symbols_that_are_read_aloud_become_their_reading(raw, expected):
    assert normalize_transcript(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("李·白", "李白"), ("好～", "好"), ("好~", "好"), ("点赞😀", "点赞"), ("点赞👍️", "点赞"),  # with U+FE0F
    ("１＋１＝２", "一一二"), ("＃话题＃", "话题"), ("￥", None), ("你\u200b好", "你好"),
])
def test_a_stray_symbol_never_costs_the_transcript(raw, expected):
    assert normalize_transcript(raw) == expected


@pytest.mark.parametrize("raw", ["ＶＣＤ机", "VCD机", "我用iPhone", "Ｈ５Ｎ１病毒", "abc", "ａ", "ＣＣＴＶ新闻",
                                 "去唱Ｋ歌", "α粒子", "こんにちは", "安녕"])
def test_letters_of_other_scripts_reject_the_transcript(raw):
    assert normalize_transcript(raw) is None


@pytest.mark.parametrize("raw", ["", "   ", "，。！", "...", "——"])
def test_empty_after_normalisation_is_none(raw):
    assert normalize_transcript(raw) is None


def test_result_is_cjk_only():
    out = normalize_transcript("１２月３１日，江泽民发表１９９８年新年讲话《迈向充满希望的新世纪》。")
    assert out == "一二月三一日江泽民发表一九九八年新年讲话迈向充满希望的新世纪"


def test_split_clauses_on_a_peoples_daily_sentence():
    sentence = ("１２月３１日，中共中央总书记、国家主席江泽民发表１９９８年新年讲话《迈向充满希望的新世纪》。"
                "（新华社记者兰红光摄）")
    assert split_clauses(sentence) == [
        "12月31日", "中共中央总书记", "国家主席江泽民发表1998年新年讲话", "迈向充满希望的新世纪", "新华社记者兰红光摄",
    ]


def test_split_clauses_drops_empty_pieces_and_handles_quotes():
    assert split_clauses("他说：“我们一定能成功！”大家鼓掌。") == ["他说", "我们一定能成功", "大家鼓掌"]
    assert split_clauses("，。！") == []
    assert split_clauses("") == []
    assert split_clauses("没有标点") == ["没有标点"]

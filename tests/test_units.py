"""Output units (lang.units): tokens and lexicon of each unit, a character HLG, sentencepiece spelling
through HLG, and stages 2-7 of the mini_cmn CI recipe with character and sentencepiece units."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import section
from lhotse import SupervisionSegment, SupervisionSet

from asrt.decode.results import RESULTS_HEADER
from asrt.decode.search import HlgDecoder
from asrt.fileio import read_symbol_table
from asrt.lang.disambig import write_disambig_lang
from asrt.lang.prepare import BLANK, label_supervisions, prepare_lang
from asrt.lang.units import Units, lang_dir_name, toneless_inventory
from asrt.lm.graph import compile_hlg
from asrt.text.pinyin import syllable_inventory

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "egs" / "mini_cmn"


def labelled_text(tmp_path: Path, texts: list[str]) -> Path:
    """Label ``texts`` as stage 2 does (characters + tonal pinyin) into a supervision manifest."""
    segs = [SupervisionSegment(id=f"u{i}", recording_id=f"u{i}", start=0.0, duration=1.0, channel=0, text=t)
            for i, t in enumerate(texts)]
    raw = tmp_path / "raw.jsonl.gz"
    SupervisionSet.from_segments(segs).to_file(raw)
    out = tmp_path / "sups.jsonl.gz"
    label_supervisions(raw, out)
    return out


def lexicon(lang: Path) -> list[tuple[str, ...]]:
    return [tuple(line.split()) for line in (lang / "lexicon.txt").read_text(encoding="utf-8").splitlines()]


def tokens(lang: Path) -> list[str]:
    table = read_symbol_table(lang / "tokens.txt")
    assert sorted(table.values()) == list(range(len(table)))
    return sorted(table, key=table.__getitem__)


def test_lang_dir_names() -> None:
    assert lang_dir_name(section("lang")) == lang_dir_name(section("lang", units="tonal_pinyin")) == "lang"
    assert lang_dir_name(section("lang", units="toneless_pinyin")) == "lang_toneless_pinyin"
    assert lang_dir_name(section("lang", units="chars")) == "lang_chars"
    assert lang_dir_name(section("lang", units="bpe", bpe_vocab_size=500)) == "lang_bpe500"
    with pytest.raises(ValueError, match="lang.units must be one of"):
        lang_dir_name(section("lang", units="words"))


# A small text whose lexicons can be checked by hand: 行 reads xing2 and hang2 (银行, 行长 zhang3).
TEXT = ["银行行长", "你好"]
EXTRA = "他行走\n"  # LM text only


@pytest.fixture
def sups(tmp_path: Path) -> tuple[Path, list[Path]]:
    extra = tmp_path / "extra.txt"
    extra.write_text(EXTRA, encoding="utf-8")
    return labelled_text(tmp_path, TEXT), [extra]


def test_tonal_pinyin_is_the_default_and_records_its_units(tmp_path: Path, sups) -> None:
    prepare_lang(tmp_path / "lang", *sups, section("lang"), "char")
    assert tokens(tmp_path / "lang") == [BLANK, *syllable_inventory()]
    assert json.loads((tmp_path / "lang" / "units.json").read_text()) == {"units": "tonal_pinyin", "lm_unit": "char"}
    assert Units.from_dir(tmp_path / "lang").name == "tonal_pinyin"
    assert Units.from_dir(tmp_path).name == "tonal_pinyin"  # no units.json: made before units existed


def test_toneless_pinyin_tokens_and_lexicon(tmp_path: Path, sups) -> None:
    lang = tmp_path / "lang"
    prepare_lang(lang, *sups, section("lang", units="toneless_pinyin"), "char")
    toks = tokens(lang)
    assert toks[0] == BLANK and toks[1:] == toneless_inventory()
    assert {"lv", "hang", "xing", "ma"} <= set(toks) and not any(t[-1].isdigit() for t in toks[1:])
    entries = lexicon(lang)
    assert len(set(entries)) == len(entries)  # xing2/xing4 of 行 became one entry
    assert {r for w, r in entries if w == "行"} == {"xing", "hang", "heng"}
    assert ("长", "zhang") in entries and ("长", "chang") in entries
    assert {w for w, _ in entries} == set("银行长你好他走")  # every LM character, as for tonal pinyin
    units = Units.from_dir(lang)
    assert units.is_pinyin and units.labels("银行", "yin2 hang2") == ["yin", "hang"]


def test_character_tokens_and_lexicon(tmp_path: Path, sups) -> None:
    lang = tmp_path / "lang"
    prepare_lang(lang, *sups, section("lang", units="chars"), "char")
    # tokens: the characters of the training transcripts; 他 and 走 are only in the LM text
    assert tokens(lang) == [BLANK, "你", "好", "行", "银", "长"]  # in code point order
    assert lexicon(lang) == [("你", "你"), ("好", "好"), ("行", "行"), ("银", "银"), ("长", "长")]
    units = Units.from_dir(lang)
    assert not units.is_pinyin
    assert units.labels("银行行长", "yin2 hang2 hang2 zhang3") == list("银行行长")
    assert units.to_text(["你", "好"]) == "你好"


def test_each_kind_of_unit_answers_for_itself(tmp_path: Path, sups) -> None:
    from lhotse import SupervisionSegment

    sup = SupervisionSegment("u", "u", 0, 1, text="银行", custom={"pinyin": "yin2 hang2"})
    expected = {  # kind: (lang dir, greedy metric, scored (reference, hypothesis), RESULTS label)
        "tonal_pinyin": ("lang", "PER", (["yin2", "hang2"], ["yin2", "xing2"]), "tdnn"),
        "toneless_pinyin": ("lang_toneless_pinyin", "PER", (["yin", "hang"], ["yin2", "xing2"]),
                            "tdnn (toneless_pinyin)"),
        "chars": ("lang_chars", "CER", (["银", "行"], ["银", "好"]), "tdnn (chars)"),
    }
    for kind, (dir_name, metric, scored, label) in expected.items():
        prepare_lang(tmp_path / kind, *sups, section("lang", units=kind), "char")
        units = Units.from_dir(tmp_path / kind)
        hyp = ["yin2", "xing2"] if units.is_pinyin else ["银", "好"]
        assert (units.name, lang_dir_name(section("lang", units=kind)), units.greedy_metric) == (kind, dir_name, metric)
        assert units.greedy_scoring(sup, hyp) == scored and units.model_label("tdnn") == label
        assert units.has_tones == (kind == "tonal_pinyin") and units.skips_unseen == (kind == "chars")
    with pytest.raises(ValueError, match="lang.units must be one of tonal_pinyin, toneless_pinyin, chars, bpe"):
        lang_dir_name(section("lang", units="words"))


BPE_TEXT = ["中国人民银行", "中国人民", "人民银行行长", "你好中国", "银行行长你好", "中国银行"] * 20 + ["鑫"]


@pytest.fixture
def bpe_lang(tmp_path: Path) -> Path:
    lang = tmp_path / "lang"
    # 鑫 is 1 of the 601 characters: below the 0.99 coverage, so it is spelt in UTF-8 byte pieces
    prepare_lang(lang, labelled_text(tmp_path, BPE_TEXT), [],
                 section("lang", units="bpe", bpe_vocab_size=275, bpe_character_coverage=0.99), "char")
    return lang


def test_sentencepiece_tokens_and_lexicon_round_trip(bpe_lang: Path) -> None:
    units = Units.from_dir(bpe_lang)
    toks = tokens(bpe_lang)
    assert toks[0] == BLANK and "<unk>" not in toks and "<0xE9>" in toks
    multi = [t for t in toks if len(t) > 1 and not t.startswith("<")]
    assert "中国" in multi or "人民" in multi, multi  # frequent pairs became pieces
    entries = lexicon(bpe_lang)
    words = {w for w, *_ in entries}
    assert set("中国人民银行长你好鑫") <= words
    assert ("鑫", "<0xE9>", "<0x91>", "<0xAB>") in entries
    for word, *pieces in entries:  # every entry spells its word: the pieces decode back to it
        assert set(pieces) <= set(toks), word
        assert units.to_text(pieces) == word, (word, pieces)
    for piece in multi:  # every piece of several characters is a word of its own (spelt by HLG)
        assert (piece, piece) in entries
    for text in set(BPE_TEXT):  # training labels are pieces that decode to the transcript
        labels = units.labels(text)
        assert set(labels) <= set(toks) and units.to_text(labels) == text


def unigram_arpa(words: list[str]) -> str:
    """An ARPA LM where every word is equally likely."""
    p = -math.log10(len(words) + 1)
    lines = ["\\data\\", f"ngram 1={len(words) + 2}", "", "\\1-grams:", "-99\t<s>", f"{p:.4f}\t</s>"]
    lines += [f"{p:.4f}\t{w}" for w in words]
    return "\n".join(lines + ["", "\\end\\", ""])


def one_hot(labels: list[str], token_ids: dict[str, int], p: float = 0.999) -> np.ndarray:
    """Log-probs with ``p`` on each label for two frames, then a blank (as CTC needs between repeats).
    Confident enough that a piece of several characters outweighs its characters' LM costs."""
    seq = [x for label in labels for x in (label, label, BLANK)]
    v = len(token_ids)
    x = np.full((len(seq), v), math.log((1 - p) / (v - 1)), dtype=np.float32)
    for t, label in enumerate(seq):
        x[t, token_ids[label]] = math.log(p)
    return x


def test_sentencepiece_pieces_decode_through_hlg_to_their_characters(bpe_lang: Path) -> None:
    (bpe_lang / "lm.arpa").write_text(unigram_arpa(sorted(set("".join(BPE_TEXT)))), encoding="utf-8")
    compile_hlg(bpe_lang, bpe_lang / "lm.arpa", bpe_lang / "HLG.fst")
    decoder = HlgDecoder.from_dir(bpe_lang, section("decode", blank_penalty=0.0))
    token_ids = read_symbol_table(bpe_lang / "tokens.txt")
    units = Units.from_dir(bpe_lang)
    for text in ["中国人民银行", "人民银行行长", "你好中国", "鑫中国", "银行鑫", "长行人"]:
        pieces = units.labels(text)
        assert "".join(decoder.decode(one_hot(pieces, token_ids))) == text, pieces


# A character HLG small enough to check by hand: 是, 事 and 市 sound alike (the acoustics cannot tell
# them apart); the bigrams make 不 -> 是 and 有 -> 事 win, and 市 wins alone (likeliest unigram).
CHAR_ARPA = """\
\\data\\
ngram 1=10
ngram 2=3

\\1-grams:
-99\t<s>\t-0.3
-1.0\t</s>\t0
-1.2\t你\t-0.3
-1.2\t好\t-0.3
-1.5\t是\t-0.3
-1.5\t事\t-0.3
-1.0\t市\t-0.3
-1.2\t不\t-0.5
-1.2\t有\t-0.5
-2.0\t<unk>\t0

\\2-grams:
-0.1\t你 好
-0.1\t不 是
-0.1\t有 事

\\end\\
"""


@pytest.fixture(scope="module")
def char_decoder(tmp_path_factory) -> HlgDecoder:
    lang = tmp_path_factory.mktemp("lang_chars")
    chars = "你好是事市不有"
    (lang / "tokens.txt").write_text("".join(f"{t} {i}\n" for i, t in enumerate([BLANK, *chars])), encoding="utf-8")
    (lang / "lexicon.txt").write_text("".join(f"{c} {c}\n" for c in chars), encoding="utf-8")
    (lang / "lm.arpa").write_text(CHAR_ARPA, encoding="utf-8")
    write_disambig_lang(lang)
    compile_hlg(lang, lang / "lm.arpa", lang / "HLG.fst")
    return HlgDecoder.from_dir(lang, section("decode", blank_penalty=0.0))


def char_frames(frames: list[dict[str, float]]) -> np.ndarray:
    """Log-probs of 8 tokens (blank + 你好是事市不有) from per-frame probabilities (the rest shares 0.01)."""
    order = [BLANK, *"你好是事市不有"]
    x = np.full((len(frames), len(order)), math.log(0.01 / len(order)), dtype=np.float32)
    for t, probs in enumerate(frames):
        for label, p in probs.items():
            x[t, order.index(label)] = math.log(p)
    return x


def test_character_hlg_decodes_known_log_probs(char_decoder: HlgDecoder) -> None:
    # repeats merge, a blank separates
    assert char_decoder.decode(char_frames([{"你": 0.9}, {"你": 0.9}, {BLANK: 0.9}, {"好": 0.9}])) == ["你", "好"]
    alike = {"是": 0.33, "事": 0.33, "市": 0.33}
    assert char_decoder.decode(char_frames([{"不": 0.9}, {BLANK: 0.9}, alike])) == ["不", "是"]
    assert char_decoder.decode(char_frames([{"有": 0.9}, {BLANK: 0.9}, alike])) == ["有", "事"]
    assert char_decoder.decode(char_frames([alike])) == ["市"]
    # confident acoustics win over the LM
    assert char_decoder.decode(char_frames([{"不": 0.9}, {BLANK: 0.9}, {"市": 0.98}])) == ["不", "市"]


# ------------------------------------------------------------------ the recipe with other units

def run_units_recipe(work: Path, units: str, lang_cfg: dict, *args: str) -> tuple[Path, Path]:
    """Stages 2-8 of mini_cmn on the session's CI data (stages 3-4, features and LM, are shared and done)
    with the tiny test model of tests/replica.yaml and ``lang_cfg``; return (exp dir, RESULTS.md)."""
    cfg = yaml.safe_load((ROOT / "tests" / "replica.yaml").read_text())
    # One epoch in few large batches, and a narrow beam: the barely trained model's flat log-probs would
    # make a wide HLG search slow. What is tested is that every stage follows the units.
    cfg["train"].update(epochs=1, max_duration=300)
    cfg["decode"] = {"beam": 8.0, "max_active": 200}
    cfg["lang"] = lang_cfg
    cfg["lm"] = {**cfg.get("lm", {}), "unit": "char"}  # a word LM needs pinyin units
    config = work / f"{units}.yaml"
    config.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    exp, results = work / f"exp_{units}", work / f"RESULTS_{units}.md"
    cmd = ["bash", str(RECIPE / "run.sh"), "--config", str(config), "--data-dir", str(work / "data"),
           "--exp-dir", str(exp), "--results", str(results), "--stage", "2", *args]
    proc = subprocess.run(cmd, cwd=RECIPE, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Stage 3: fbank features" in proc.stderr and "done before" in proc.stderr  # features shared
    return exp, results


@pytest.mark.parametrize("units, lang_cfg, lang_name", [
    ("chars", {"units": "chars"}, "lang_chars"),
    # ~1800 characters in the CI training text, 98 % of it in ~1670 of them (the lowest coverage
    # sentencepiece takes): the rest are byte pieces, and ~270 pieces are of several characters
    ("bpe", {"units": "bpe", "bpe_vocab_size": 2200, "bpe_character_coverage": 0.98}, "lang_bpe2200"),
])
def test_recipe_with_units(work: Path, units: str, lang_cfg: dict, lang_name: str) -> None:
    exp, results = run_units_recipe(work, units, lang_cfg, "--stop-stage", "8")
    lang = work / "data" / lang_name
    assert json.loads((lang / "units.json").read_text())["units"] == units
    assert (lang / "HLG.fst").exists() and (lang / ".done" / "stage5").exists()
    assert (work / "data" / "lang" / "units.json").exists()  # the default lang dir is left as it was
    summary = json.loads((exp / "decode" / "summary.json").read_text())
    for split in ("dev", "test"):
        s = summary[split]
        assert s["units"] == units and s["per"] is None and 0 <= s["greedy_cer"] <= 100 and 0 <= s["cer"] <= 100
        first = (exp / "decode" / split / "summary.txt").read_text().splitlines()[0]
        assert first.startswith("%CER ") and "(greedy CTC" in first
        hyps = (exp / "decode" / split / "greedy_char.hyps.txt").read_text(encoding="utf-8").splitlines()
        assert hyps and all(not any(c.isascii() and c.isalnum() for c in h.split("\t", 1)[-1]) for h in hyps)
    row = results.read_text().split(RESULTS_HEADER)[-1].splitlines()[0]
    assert f"| tdnn ({units}) | - |" in row, row  # no PER for units without pinyin
    model = exp / "model"
    assert json.loads((model / "metadata.json").read_text())["units"] == units
    assert Units.from_dir(model).name == units
    corpus = work / "data" / "local" / "mini_cmn"
    wav = corpus / (corpus / "test.tsv").read_text().splitlines()[1].split("\t")[2]
    proc = subprocess.run([sys.executable, "-m", "asrt.cli", "recognize", "--model-dir", str(model), str(wav)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["pinyin"] == [] and isinstance(out["text"], str)

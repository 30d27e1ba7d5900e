"""Stage 4's LM training: lmplz's own messages (progress meter, statistics) reach the user as they come."""
from __future__ import annotations

import shutil
import sys

import pytest

from asrt.lm.ngram import build_char_lm, characters, run_showing_stderr, train_ngram


def test_stderr_is_shown_as_it_comes_and_its_tail_kept(capfd):
    script = "import sys\nfor i in range(3):\n    sys.stderr.write('*' * 10); sys.stderr.flush()\nprint('out')\nsys.exit(3)"
    code, tail = run_showing_stderr([sys.executable, "-c", script], keep=25)
    assert code == 3
    assert tail == "*" * 25
    out, err = capfd.readouterr()
    assert err == "*" * 30 and "out" not in out  # stdout is the ARPA file's business, not the terminal's


def test_lmplz_meter_reaches_stderr_and_failures_quote_it(tmp_path, capfd):
    if shutil.which("lmplz") is None:
        pytest.skip("lmplz is not on PATH (source path.sh)")
    text = tmp_path / "text.txt"
    text.write_text("你 好\n我 们 好\n你 们 好 吗\n", encoding="utf-8")
    arpa = train_ngram(text, tmp_path / "lm.arpa", 3, memory="5%")
    assert arpa.read_text().startswith("\\data\\\nngram 1=")
    err = capfd.readouterr().err
    assert "=== 1/5 Counting and sorting n-grams ===" in err and "*" * 100 in err
    with pytest.raises(RuntimeError, match=r"(?s)lmplz failed:.*No such file"):
        train_ngram(tmp_path / "missing.txt", tmp_path / "bad.arpa", 3, memory="5%")
    assert not (tmp_path / "bad.arpa").exists()


def test_character_lm_counts_the_characters_of_words(tmp_path):
    if shutil.which("lmplz") is None:
        pytest.skip("lmplz is not on PATH (source path.sh)")
    import kenlm

    assert characters(["你好", "吗"]) == "你 好 吗"
    text = tmp_path / "lm_text.txt"
    text.write_text("你好 吗\n我们 好\n你们 好 吗\n", encoding="utf-8")
    out = tmp_path / "lm_rescore_char.bin"
    build_char_lm(text, out, 3)
    lm = kenlm.Model(str(out))
    assert not any(oov for *_, oov in lm.full_scores("你 好 吗 们 我"))  # every character is a unit
    assert lm.score("你 们 好", bos=True, eos=True) > lm.score("你好", bos=True, eos=True)  # 你好 is no unit
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lm_rescore_char.bin", "lm_text.txt"]
    build_char_lm(text, out, 0)
    assert not out.exists()

"""Stage 1's count check on the corpus replicas: each corpus module's expected counts (``EXPECTED_UTTERANCES``
per split, ``EXPECTED_AUDIO_FILES``) against what stage 1 finds, warned about (never an error) with both
numbers; and which of the replicas' utterances the rules leave out, and why."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import replica_aidatatang_200zh
import replica_aishell
import replica_magicdata
import replica_primewords
import replica_stcmds
import replica_thchs30

from asrt.corpora import aidatatang_200zh, aishell, magicdata, primewords, stcmds, thchs30
from asrt.corpora.utterances import warn_if_incomplete, warn_if_split_incomplete


def test_the_warning_names_both_numbers_and_is_silent_on_a_full_corpus(caplog):
    caplog.set_level(logging.WARNING)
    assert not warn_if_split_incomplete("aishell", "dev", 14320, 6, aishell.EXPECTED_UTTERANCES)
    assert not warn_if_split_incomplete("stcmds", "dev", 5, 0, stcmds.EXPECTED_UTTERANCES)  # no anchor
    assert not warn_if_incomplete("stcmds", 7, None)
    assert caplog.records == []
    assert warn_if_split_incomplete("aishell", "test", 3, 1, aishell.EXPECTED_UTTERANCES)
    assert caplog.records[-1].levelno == logging.WARNING
    assert caplog.messages[-1] == ("aishell: found 4 transcribed test utterances (3 written, 1 left out by the "
                                   "text rules), the full corpus has 7176")


@pytest.mark.parametrize("module", [aishell, thchs30, stcmds, primewords, aidatatang_200zh, magicdata])
def test_expected_counts_live_in_the_corpus_module(module):
    assert set(module.EXPECTED_UTTERANCES) <= set(module.SPLITS)
    assert all(isinstance(n, int) and n > 0 for n in module.EXPECTED_UTTERANCES.values())
    total = getattr(module, "EXPECTED_AUDIO_FILES", None)
    if total is not None and set(module.EXPECTED_UTTERANCES) == set(module.SPLITS):
        assert sum(module.EXPECTED_UTTERANCES.values()) <= total  # audio without a transcript, not the reverse


def test_aidatatang_splits_add_up_to_kaldis_file_count():
    assert sum(aidatatang_200zh.EXPECTED_UTTERANCES.values()) == aidatatang_200zh.EXPECTED_AUDIO_FILES
    assert sum(aishell.EXPECTED_UTTERANCES.values()) == 141600 == aishell.EXPECTED_AUDIO_FILES - 325


def _warnings(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_aishell_replica_drops_the_untranscribed_and_the_spelled_letter_only(tmp_path, caplog):
    corpus = replica_aishell.build(tmp_path / "corpus")
    aishell.unpack_speakers(corpus)
    # One unusual symbol must not cost the utterance: give a train wav a transcript with %, ·, ～ and an emoji.
    transcript = corpus / aishell.TRANSCRIPT
    lines = transcript.read_text(encoding="utf-8").replace(
        "BAC009S0002W0123 北京 天气 很 好", "BAC009S0002W0123 北京 天气 很 好 ５０％ ·～😀")
    transcript.write_text(lines, encoding="utf-8")
    caplog.set_level(logging.INFO)
    aishell.prepare(corpus, tmp_path / "manifests")
    text = caplog.text
    assert "aishell train: left out 1 wavs without a transcript line and 1 transcripts the text rules reject" in text
    warned = _warnings(caplog)
    assert ("aishell: found 10 transcribed train utterances (9 written, 1 left out by the text rules), "
            "the full corpus has 120098") in warned
    assert "found 3 transcribed dev utterances (3 written, 0 left out" in warned and "has 14326" in warned
    assert "aishell: found 18 audio files, the full corpus has 141925" in warned
    from lhotse import load_manifest
    sups = {s.id: s for s in load_manifest(tmp_path / "manifests/aishell_supervisions_train.jsonl.gz")}
    assert sups["BAC009S0002W0123"].text == "北京天气很好百分之五零"
    assert sups["BAC009S0002W0123"].speaker == "S0002"  # the directory, as lhotse names it


def test_thchs30_replica_warns_per_split(tmp_path, caplog):
    corpus = replica_thchs30.build(tmp_path / "corpus")
    caplog.set_level(logging.WARNING)
    thchs30.prepare(corpus, tmp_path / "manifests")
    warned = _warnings(caplog)
    n = {split: len(utts) for split, utts in replica_thchs30.UTTERANCES.items()}
    for split, full in (("train", 10000), ("dev", 893), ("test", 2495)):
        assert (f"thchs30: found {n[split]} transcribed {split} utterances ({n[split]} written, 0 left out by "
                f"the text rules), the full corpus has {full}") in warned  # the stray "l =" costs nothing


def test_magicdata_replica_leaves_out_only_the_unintelligible_english_and_broken(tmp_path, caplog):
    corpus = replica_magicdata.build(tmp_path / "corpus")
    wav = next((corpus / "test" / "29_2071").glob("*.wav"))
    shutil.copy(wav, wav.with_name("29_2071_20170720129999.wav"))
    with (corpus / "test" / "TRANS.txt").open("a", encoding="utf-8") as f:
        f.write("29_2071_20170720129999.wav\t29_2071\t[SPK]气温２５℃，湿度６０％～\n")
    caplog.set_level(logging.WARNING)
    by_split = magicdata.read_utterances(corpus)
    texts = {u.id: u.text for us in by_split.values() for u in us}
    assert texts["29_2071_20170720129999"] == "气温二五摄氏度湿度百分之六零"
    assert len(by_split["train"]) == 7  # of 9: the [*] and the English words go, the tags are removed
    warned = _warnings(caplog)
    assert "MAGICDATA: left out 3 utterances (unintelligible, not Mandarin, or known broken)" in warned
    assert ("found 5 transcribed test utterances (5 written, 0 left out by the text rules), "
            "the full corpus has 24279") in warned
    assert "transcribed train utterances" not in warned  # no anchor states the train count
    assert "MAGICDATA: found 20 audio files, the full corpus has 609552" in warned


@pytest.mark.parametrize("replica, module, name, total", [
    (replica_aidatatang_200zh, aidatatang_200zh, "aidatatang_200zh", 237265),
    (replica_stcmds, stcmds, "ST-CMDS", 102600),
    (replica_primewords, primewords, "Primewords", 50384),
])
def test_other_replicas_warn_against_the_full_corpus(tmp_path, caplog, replica, module, name, total):
    corpus = replica.build(tmp_path / "corpus")
    if module is aidatatang_200zh:
        aidatatang_200zh.unpack_speaker_tarballs(corpus)
    caplog.set_level(logging.WARNING)
    by_split = module.read_utterances(Path(corpus))
    warned = _warnings(caplog)
    assert f"{name}: found " in warned and f"audio files, the full corpus has {total}" in warned
    if module is aidatatang_200zh:
        assert f"found {len(by_split['dev'])} transcribed dev utterances" in warned and "has 24216" in warned

"""egs/thchs30 on a miniature THCHS-30 replica: stage 0 finds the corpus and downloads nothing, stages 1-7
run for real on the tiny replica config, and the labels are the corpus's pinyin line, not pypinyin's."""
from __future__ import annotations

import json
import os

import pytest
import replica_thchs30
from recipe_checks import http_server, read_jsonl
from recipe_runner import recipe_fixtures

from asrt.corpora import thchs30
from asrt.corpora.download import md5sum
from asrt.text.pinyin import text_to_pinyin

corpus, work = recipe_fixtures("thchs30", replica_thchs30.build, "--stage", "0")  # stage 0 finds the replica


def test_stage0_skips_the_download_when_the_corpus_is_there(corpus, work):
    log = (work / "run.log").read_text()
    assert "already holds the THCHS-30 corpus; nothing to download" in log
    assert not list(corpus.glob("*.tgz*"))


def test_manifests_follow_the_official_split_directories(work):
    for split, utts in replica_thchs30.UTTERANCES.items():
        sups = read_jsonl(work / f"data/manifests/thchs30_supervisions_{split}.jsonl.gz")
        assert sorted(s["id"] for s in sups) == sorted(u[0] for u in utts)
        assert {s["speaker"] for s in sups} == {u[0].split("_")[0] for u in utts}
        recs = read_jsonl(work / f"data/manifests/thchs30_recordings_{split}.jsonl.gz")
        assert all(f"/data_thchs30/{split}/" in r["sources"][0]["source"] for r in recs)
    train = {s["id"]: s for s in read_jsonl(work / "data/manifests/thchs30_supervisions_train.jsonl.gz")}
    assert train["B15_102"]["text"] == "判处六年"  # the stray "l =" annotation removed


def test_labels_are_the_pinyin_line_even_where_pypinyin_differs(work):
    labelled = {s["id"]: s for split in thchs30.SPLITS
                for s in read_jsonl(work / f"data/manifests/thchs30_supervisions_labelled_{split}.jsonl.gz")}
    pinyin_line = {u[0]: u[2] for utts in replica_thchs30.UTTERANCES.values() for u in utts}
    assert {k: s["custom"]["pinyin"] for k, s in labelled.items()} == pinyin_line
    for utt, (ours, theirs) in replica_thchs30.PYPINYIN_DIFFERS.items():
        assert ours in labelled[utt]["custom"]["pinyin"].split()
        assert theirs in text_to_pinyin(labelled[utt]["text"])  # pypinyin would have taught the other reading


def test_graph_and_scores(work):
    assert (work / "data/lang/HLG.fst").stat().st_size > 0
    summary = json.loads((work / "exp/decode/summary.json").read_text())
    assert set(summary) == {"dev", "test"}
    report = (work / "exp/decode/test/summary.txt").read_text().splitlines()
    assert report[0].startswith("%PER") and "/ 15," in report[0]  # 15 reference syllables in the test split
    assert report[1].startswith("%CER") and "/ 15," in report[1]
    assert "| replica.yaml |" in (work / "RESULTS.md").read_text()


def test_transcript_pointer_symlink_and_data_fallback(tmp_path):
    data, train = tmp_path / "data", tmp_path / "train"
    data.mkdir()
    train.mkdir()
    (data / "A2_1.wav.trn").write_text("你好\nni3 hao3\nn i3 h ao3\n", encoding="utf-8")
    (train / "A2_1.wav.trn").write_text("../data/A2_1.wav.trn\n", encoding="utf-8")  # pointer file
    os.symlink("../data/A2_1.wav.trn", train / "A2_2.wav.trn")  # a real symlink, as the README describes
    expected = ("你好", "ni3 hao3")
    assert thchs30.read_transcript(thchs30.transcript_path(train, "A2_1")) == expected
    assert thchs30.read_transcript(thchs30.transcript_path(train, "A2_2")) == expected
    (train / "A2_1.wav.trn").unlink()  # no file in the split directory: data/ holds it
    assert thchs30.transcript_path(train, "A2_1") == data / "A2_1.wav.trn"


def test_stage0_downloads_and_extracts_from_a_mirror(tmp_path, monkeypatch):
    archive = replica_thchs30.build_archive(tmp_path / "src", tmp_path / "served" / "18")
    monkeypatch.setattr(thchs30, "ARCHIVES", [(archive.name, md5sum(archive), None)])
    with http_server(tmp_path / "served") as mirror:
        monkeypatch.setenv("ASRT_OPENSLR_MIRROR", mirror)
        thchs30.download(tmp_path / "corpus", {"download": {"openslr_mirror": None}})
    assert thchs30.missing_layout(tmp_path / "corpus") == []
    assert (tmp_path / "corpus/data_thchs30/test/D4_750.wav.trn").read_text() == "../data/D4_750.wav.trn\n"


def test_prepare_without_the_corpus_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="run stage 0, or point --corpus-dir"):
        thchs30.prepare(tmp_path, tmp_path / "manifests")

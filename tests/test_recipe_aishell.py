"""egs/aishell on a miniature AISHELL-1 replica: stage 0 (no download, the per-speaker tarballs unpacked),
then stages 1-7 for real on the tiny replica config; stage 0 downloading and unpacking from a local server."""
from __future__ import annotations

import json

import pytest
import replica_aishell
from recipe_checks import http_server, read_jsonl
from recipe_runner import recipe_fixtures

from asrt.corpora import aishell, get_corpus
from asrt.corpora.download import md5sum

corpus, work = recipe_fixtures("aishell", replica_aishell.build, "--stage", "0")  # stage 0 finds the replica


def test_stage0_unpacks_speaker_tarballs_without_downloading(corpus, work):
    log = (work / "run.log").read_text()
    assert "already holds the AISHELL-1 corpus; nothing to download" in log
    assert "Unpacking 7 per-speaker tarballs" in log
    assert (corpus / "data_aishell/wav/train/S0002/BAC009S0002W0122.wav").is_file()
    assert (corpus / "data_aishell/wav/.S0002.tar.gz.extracted").exists()
    assert aishell.unpack_speakers(corpus) == 0  # done markers: nothing unpacked twice


def test_manifests_hold_the_official_splits_and_normalised_text(work):
    manifests = work / "data" / "manifests"
    sups = {split: {s["id"]: s for s in read_jsonl(manifests / f"aishell_supervisions_{split}.jsonl.gz")}
            for split in aishell.SPLITS}
    speakers = {split: {s["speaker"] for s in sups[split].values()} for split in sups}
    assert speakers == {"train": {"S0002", "S0003", "S0004"}, "dev": {"S0724", "S0725"}, "test": {"S0764", "S0765"}}
    train = sups["train"]
    assert train["BAC009S0002W0122"]["text"] == "楼市成交量下降"
    assert replica_aishell.NO_TRANSCRIPT not in train  # audio without a transcript line
    assert replica_aishell.LATIN[0] not in train  # a spoken Latin letter: rejected by the text rules
    assert len(train) == 9 and len(sups["dev"]) == 3 and len(sups["test"]) == 4
    recs = read_jsonl(manifests / "aishell_recordings_train.jsonl.gz")
    assert {r["sampling_rate"] for r in recs} == {16000} and len(recs) == 9


def test_labels_graph_and_scores(work):
    labelled = {s["id"]: s for s in read_jsonl(work / "data/manifests/aishell_supervisions_labelled_train.jsonl.gz")}
    assert labelled["BAC009S0003W0302"]["custom"]["pinyin"] == "ren2 min2 yin2 hang2 li4 lv4"
    assert (work / "data/lang/HLG.fst").stat().st_size > 0
    summary = json.loads((work / "exp/decode/summary.json").read_text())
    for split in ("dev", "test"):
        assert 0 <= summary[split]["per"] and 0 <= summary[split]["cer"]
    # every test utterance decoded and scored against all 18 reference syllables / characters
    hyps = (work / "exp/decode/test/hlg_char.hyps.txt").read_text().splitlines()
    assert sorted(h.split("\t")[0] for h in hyps) == sorted(
        replica_aishell.utt_id(spk, n) for spk, utts in replica_aishell.UTTERANCES["test"].items() for n, _ in utts)
    report = (work / "exp/decode/test/summary.txt").read_text()
    assert "/ 18," in report.splitlines()[0] and "/ 18," in report.splitlines()[1]
    assert "| replica.yaml |" in (work / "RESULTS.md").read_text()


def test_stage0_downloads_extracts_and_unpacks_from_a_mirror(tmp_path, monkeypatch):
    served = tmp_path / "served" / "33"
    archives = replica_aishell.build_archives(tmp_path / "src", served)
    monkeypatch.setattr(aishell, "ARCHIVES", [(name, md5sum(path), None) for name, path in archives.items()])
    corpus = tmp_path / "corpus"
    with http_server(tmp_path / "served") as mirror:
        get_corpus("aishell").download(corpus, {"download": {"openslr_mirror": mirror}}, num_jobs=2)
    assert (corpus / "data_aishell.tgz.md5").exists()
    assert (corpus / "resource_aishell/speaker.info").exists()
    assert len(list((corpus / "data_aishell/wav/test").glob("*/*.wav"))) == 4
    assert aishell.packed_speakers(corpus) == []


def test_prepare_refuses_packed_speaker_tarballs(tmp_path):
    corpus = replica_aishell.build(tmp_path / "corpus")
    with pytest.raises(FileNotFoundError, match="7 per-speaker tarballs .* are not unpacked: run stage 0"):
        aishell.prepare(corpus, tmp_path / "manifests")


def test_a_corpus_lhotse_unpacked_is_taken_as_it_is(tmp_path):
    corpus = replica_aishell.build(tmp_path / "corpus")
    aishell.unpack_speakers(corpus)
    for marker in (corpus / "data_aishell/wav").glob(".*.extracted"):
        marker.unlink()  # lhotse's download_aishell leaves no per-tarball marker, only .completed
    assert len(aishell.packed_speakers(corpus)) == 7
    (corpus / "data_aishell/.completed").touch()
    assert aishell.packed_speakers(corpus) == [] and aishell.unpack_speakers(corpus) == 0

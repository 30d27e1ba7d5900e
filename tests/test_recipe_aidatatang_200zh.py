"""egs/aidatatang_200zh on a miniature replica: stages 1-7 for real on the official split, and stage 0
against a local HTTP server (the archive with its per-speaker inner tarballs unpacked, verified, skipped
when done, a corrupt download reported)."""
from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
import replica_aidatatang_200zh
from recipe_checks import check_recipe_outputs, http_server, refuse_downloads, supervisions
from recipe_runner import recipe_fixtures

from asrt.config import load_config
from asrt.corpora import aidatatang_200zh as aidatatang
from asrt.corpora.download import DownloadError, md5sum

corpus, work = recipe_fixtures("aidatatang_200zh", replica_aidatatang_200zh.build)


def test_recipe_runs_stages_1_to_7(work: Path) -> None:
    labelled = check_recipe_outputs(work, "aidatatang_200zh")
    assert [len(labelled[s]) for s in ("train", "dev", "test")] == [8, 4, 4]
    assert {s.speaker for s in labelled["dev"]} == {"G0101", "G0102"}
    # Word segmentation is gone; stage 1 left out the transcript with a full-width letter.
    assert "以后你是男孩子" in {s.text for s in labelled["train"]}
    assert "T0055G0003S0004" not in {s.id for s in supervisions(work, "aidatatang_200zh", "train")}


@pytest.fixture()
def server(tmp_path: Path):
    """An HTTP server whose ``/62/`` serves the replica archive, like an OpenSLR mirror."""
    served = tmp_path / "served"
    archive = replica_aidatatang_200zh.build_archive(served / str(aidatatang.OPENSLR_ID))
    with http_server(served) as url:
        yield url, archive


def test_download_unpacks_inner_tarballs(server, tmp_path: Path, monkeypatch) -> None:
    url, archive = server
    monkeypatch.delenv("ASRT_OPENSLR_MIRROR", raising=False)
    monkeypatch.setattr(aidatatang, "ARCHIVE_MD5", md5sum(archive))
    monkeypatch.setattr(aidatatang, "ARCHIVE_BYTES", archive.stat().st_size)
    corpus = tmp_path / "corpus"
    config = {"download": {"openslr_mirror": url}}
    aidatatang.download(corpus, config)
    assert aidatatang.check_layout(corpus) == []
    assert not list(corpus.rglob("G*.tar.gz"))
    wavs = sorted(p.relative_to(corpus) for p in corpus.rglob("*.wav"))
    assert len(wavs) == 18 and Path("aidatatang_200zh/corpus/dev/G0101/T0055G0101S0001.wav") in wavs
    # A rerun finds the corpus in place and neither downloads nor unpacks anything.
    (corpus / aidatatang.ARCHIVE).unlink()
    aidatatang.download(corpus, config)
    assert not (corpus / aidatatang.ARCHIVE).exists()
    aidatatang.prepare(corpus, tmp_path / "manifests")
    assert (tmp_path / "manifests" / "aidatatang_200zh_supervisions_test.jsonl.gz").exists()


def test_download_reports_a_corrupt_archive(server, tmp_path: Path, monkeypatch) -> None:
    url, _ = server
    monkeypatch.delenv("ASRT_OPENSLR_MIRROR", raising=False)
    with pytest.raises(DownloadError, match="checksum mismatch for aidatatang_200zh.tgz"):
        aidatatang.download(tmp_path / "corpus", {"download": {"openslr_mirror": url}})
    assert not (tmp_path / "corpus" / aidatatang.ARCHIVE).exists()


def test_prepare_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="aidatatang_200_zh_transcript.txt.*run stage 0"):
        aidatatang.prepare(tmp_path, tmp_path / "manifests")


def test_download_unpacks_a_hand_extracted_archive_without_fetching(tmp_path: Path, monkeypatch) -> None:
    archive = replica_aidatatang_200zh.build_archive(tmp_path / "served")
    corpus = tmp_path / "corpus"
    with tarfile.open(archive) as tar:
        tar.extractall(corpus, filter="data")
    assert aidatatang.check_layout(corpus) != [] and list(corpus.rglob("G*.tar.gz"))
    monkeypatch.setattr("asrt.corpora.download.fetch", refuse_downloads)
    aidatatang.download(corpus, load_config(), num_jobs=2)
    assert aidatatang.check_layout(corpus) == [] and not list(corpus.rglob("G*.tar.gz"))
    assert len(list(corpus.rglob("*.wav"))) == 18

"""egs/magicdata on a miniature MAGICDATA: stages 1-7 for real on the official split, with the corpus's
markers removed ([FIL], [SPK]) or its utterances left out ([*], English, known broken)."""
from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest
import replica_magicdata
from recipe_checks import check_recipe_outputs, http_server, refuse_downloads, supervisions
from recipe_runner import recipe_fixtures

from asrt.config import load_config
from asrt.corpora import magicdata
from asrt.corpora.download import DownloadError
from asrt.text.normalize import normalize_transcript

corpus, work = recipe_fixtures("magicdata", replica_magicdata.build)


def test_recipe_runs_stages_1_to_7(work: Path) -> None:
    labelled = check_recipe_outputs(work, "magicdata")
    assert [len(labelled[s]) for s in ("train", "dev", "test")] == [7, 4, 4]
    texts = {s.text for split in labelled.values() for s in split}
    assert {"我要听周杰伦的歌", "打开导航", "帮我订一张票", "我饿了"} <= texts
    stage1 = {s.id for split in ("train", "dev", "test") for s in supervisions(work, "magicdata", split)}
    assert "16_4013_20170819121429" not in stage1 and len(stage1) == 15
    assert {s.speaker for s in labelled["test"]} == {"18_1565", "29_2071"}


@pytest.mark.parametrize("raw, expected", [
    ("我要听[FIL]周杰伦的歌", "我要听周杰伦的歌"),
    ("[SPK]打开导航[FIL]", "打开导航"),
    ("[ FIL ]你好", "你好"),
    ("我听不清[*]你说", None),
    ("[FIL]", None),
    ("我喜欢听 Taylor Swift", None),
    ("播放，新闻。", "播放新闻"),
])
def test_marker_rules(raw: str, expected: str | None) -> None:
    assert normalize_transcript(raw, magicdata.TEXT_RULES) == expected


def test_trans_txt_header_and_fields(corpus: Path) -> None:
    trans = magicdata.read_trans(corpus / "dev" / "TRANS.txt")
    assert "UtteranceID" not in trans and trans["16_4013_20170819121429"] == ("16_4013", "你好")


def test_prepare_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="train/TRANS.txt.*run stage 0"):
        magicdata.prepare(tmp_path, tmp_path / "manifests")


def test_download_skips_a_corpus_in_place(corpus: Path, monkeypatch) -> None:
    monkeypatch.setattr("asrt.corpora.download.fetch", refuse_downloads)
    magicdata.download(corpus, load_config())


def test_download_fetches_and_unpacks_each_split(corpus: Path, tmp_path: Path, monkeypatch) -> None:
    served = tmp_path / "served" / str(magicdata.OPENSLR_ID)
    served.mkdir(parents=True)
    archives = []
    for split in magicdata.SPLITS:
        with tarfile.open(served / f"{split}_set.tar.gz", "w:gz") as tar:
            tar.add(corpus / split, arcname=split)
        archives.append((f"{split}_set.tar.gz", None, (served / f"{split}_set.tar.gz").stat().st_size))
    monkeypatch.setattr(magicdata, "ARCHIVES", archives)
    monkeypatch.delenv("ASRT_OPENSLR_MIRROR", raising=False)
    target = tmp_path / "corpus"
    (target / "train").mkdir(parents=True)  # an incomplete copy is completed, not trusted
    with http_server(served.parent) as url:
        magicdata.download(target, {"download": {"openslr_mirror": url}})
    assert magicdata.check_layout(target) == []
    assert sorted(p.relative_to(target) for p in target.rglob("*.wav")) == \
        sorted(p.relative_to(corpus) for p in corpus.rglob("*.wav"))


def test_download_names_what_an_incomplete_copy_lacks(corpus: Path, tmp_path: Path, monkeypatch) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(corpus / "train", partial / "train")

    def unreachable(url, dest, md5=None):
        raise DownloadError(f"cannot download {url}: connection refused")

    monkeypatch.setattr("asrt.corpora.download.fetch", unreachable)
    with pytest.raises(DownloadError, match=r"incomplete magicdata corpus \(missing: dev/TRANS.txt, test/TRANS.txt\)"
                                            r" and stage 0 could not complete it: cannot download"):
        magicdata.download(partial, load_config())

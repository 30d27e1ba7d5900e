"""egs/stcmds on a miniature ST-CMDS: stages 1-7 for real, and the held-out split (speaker-disjoint,
the same on every run, independent of file order and of which other speakers exist)."""
from __future__ import annotations

import gzip
import random
import shutil
import tarfile
from pathlib import Path

import pytest
import replica_stcmds
from recipe_checks import check_recipe_outputs, http_server, refuse_downloads, supervisions
from recipe_runner import recipe_fixtures

from asrt.config import load_config
from asrt.corpora import stcmds
from asrt.corpora.download import DownloadError
from asrt.corpora.utterances import hash_fraction

corpus, work = recipe_fixtures("stcmds", replica_stcmds.build)


def test_recipe_runs_stages_1_to_7(work: Path) -> None:
    labelled = check_recipe_outputs(work, "stcmds")
    assert [len(labelled[s]) for s in ("train", "dev", "test")] == [8, 4, 4]
    # The "I" recordings of a train speaker number share the split of its "A" recordings.
    assert {s.speaker for s in labelled["train"]} == {"P00001A", "P00001I", "P00002A"}
    # Stage 1 normalises (the comma goes) and leaves out the transcript with Latin letters.
    assert [s.id for s in supervisions(work, "stcmds", "train")] == [s.id for s in labelled["train"]]
    assert "外面下雨了带上伞" in {s.text for s in labelled["test"]}


def test_split_is_pinned() -> None:
    """The hash (and so every speaker's split) must never change between runs, machines or versions."""
    assert hash_fraction("P00001", "stcmds") == pytest.approx(0.9559456350, abs=1e-9)
    assert [stcmds.split_of(f"P{i:05d}") for i in (1, 3, 9, 16, 48)] == ["train", "test", "dev", "test", "dev"]
    assert stcmds.speaker_of("20170001P00123I0042") == ("P00123I", "P00123")
    assert stcmds.speaker_of("readme") is None


def test_split_fractions_over_the_real_speaker_numbers() -> None:
    splits = [stcmds.split_of(f"P{i:05d}") for i in range(1, 856)]
    for split, fraction in (("dev", stcmds.DEV_FRACTION), ("test", stcmds.TEST_FRACTION)):
        assert abs(splits.count(split) / len(splits) - fraction) < 0.025, (split, splits.count(split))


def test_manifests_do_not_depend_on_file_order(corpus: Path, tmp_path: Path, monkeypatch) -> None:
    stcmds.prepare(corpus, tmp_path / "sorted")
    real_glob = Path.glob

    def shuffled_glob(self, pattern):
        paths = list(real_glob(self, pattern))
        random.Random(7).shuffle(paths)
        return iter(paths)

    monkeypatch.setattr(Path, "glob", shuffled_glob)
    stcmds.prepare(corpus, tmp_path / "shuffled")
    for f in sorted((tmp_path / "sorted").iterdir()):
        # Compare contents: gzip headers carry a time stamp.
        assert gzip.decompress(f.read_bytes()) == gzip.decompress((tmp_path / "shuffled" / f.name).read_bytes()), f.name


def test_a_missing_speaker_moves_no_other(corpus: Path, tmp_path: Path) -> None:
    fewer = tmp_path / "fewer"
    shutil.copytree(corpus, fewer)
    for f in (fewer / stcmds.TOP_DIR).glob("20170001P00002A*"):
        f.unlink()
    split_of = {u.id: s for s, us in stcmds.read_utterances(corpus).items() for u in us}
    split_of_fewer = {u.id: s for s, us in stcmds.read_utterances(fewer).items() for u in us}
    assert split_of_fewer and all(split_of[u] == s for u, s in split_of_fewer.items())
    assert len(split_of) - len(split_of_fewer) == 3


def test_prepare_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="ST-CMDS-20170001_1-OS.*run stage 0"):
        stcmds.prepare(tmp_path, tmp_path / "manifests")


def test_download_skips_a_corpus_in_place(corpus: Path, monkeypatch) -> None:
    monkeypatch.setattr("asrt.corpora.download.fetch", refuse_downloads)
    stcmds.download(corpus, load_config())


def test_download_checks_the_published_size(corpus: Path, tmp_path: Path, monkeypatch) -> None:
    """OpenSLR publishes no md5 for SLR38: a download of the wrong size is deleted and reported."""
    served = tmp_path / "served" / str(stcmds.OPENSLR_ID)
    served.mkdir(parents=True)
    with tarfile.open(served / stcmds.ARCHIVE, "w:gz") as tar:
        tar.add(corpus / stcmds.TOP_DIR, arcname=stcmds.TOP_DIR)
    monkeypatch.delenv("ASRT_OPENSLR_MIRROR", raising=False)
    with http_server(served.parent) as url:
        config = {"download": {"openslr_mirror": url}}
        with pytest.raises(DownloadError, match=r"bytes where OpenSLR's has 8231662593"):
            stcmds.download(tmp_path / "corpus", config)
        assert not (tmp_path / "corpus" / stcmds.ARCHIVE).exists()
        monkeypatch.setattr(stcmds, "ARCHIVE_BYTES", (served / stcmds.ARCHIVE).stat().st_size)
        stcmds.download(tmp_path / "corpus", config)
    assert stcmds.check_layout(tmp_path / "corpus") == []
    assert len(list((tmp_path / "corpus" / stcmds.TOP_DIR).glob("*.wav"))) == 18

"""egs/multi_cn on replicas of two member corpora (AISHELL-1, THCHS-30), and ``asrt compare`` on the
replica runs of egs/aishell, egs/thchs30 and egs/multi_cn: stages 1-8 for real on the tiny replica config."""
from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
import replica_aishell
import replica_thchs30
import yaml
from PIL import Image
from recipe_checks import read_jsonl
from recipe_runner import REPLICA_CONFIG, run_corpus_recipe

from asrt.cli import main as asrt_main
from asrt.config import load_config
from asrt.corpora import corpus_splits, get_corpus
from asrt.corpora.multi_cn import MEMBERS
from asrt.packaged.compare import Labelled, compare, heatmap_size
from asrt.train.mixing import mix_cut_sets

AISHELL_WEIGHT = 2.0  # the union's config upsamples AISHELL-1: two passes per epoch


@pytest.fixture(scope="module")
def members(tmp_path_factory) -> Path:
    """A multi_cn corpus directory holding the AISHELL-1 and THCHS-30 replicas after their own stage 0."""
    root = tmp_path_factory.mktemp("multi_cn_corpus")
    replica_aishell.build(root / "aishell")
    replica_thchs30.build(root / "thchs30")
    for m in ("aishell", "thchs30"):
        get_corpus(m).download(root / m, load_config(), 1)  # no download: unpacks AISHELL's speaker tarballs
    return root


@pytest.fixture(scope="module")
def multi_run(members, tmp_path_factory):
    """egs/multi_cn stages 1-8 on the two members, with AISHELL-1 weighted 2.0."""
    work = tmp_path_factory.mktemp("multi_cn_work")
    config = yaml.safe_load(REPLICA_CONFIG.read_text())
    config["train"]["mux_weights"] = {"aishell": AISHELL_WEIGHT, "thchs30": 1.0, "magicdata": 1.0}
    config_path = work / "replica_multi_cn.yaml"
    config_path.write_text(yaml.safe_dump(config))
    proc = run_corpus_recipe("multi_cn", members, work, "--stop-stage", "8", config=config_path)
    return work, proc


@pytest.fixture(scope="module")
def single_runs(members, tmp_path_factory) -> dict[str, Path]:
    """egs/aishell and egs/thchs30 stages 1-8 on the same replicas: {corpus: work directory}."""
    works = {}
    for m in ("aishell", "thchs30"):
        works[m] = tmp_path_factory.mktemp(f"{m}_work")
        run_corpus_recipe(m, members / m, works[m], "--stop-stage", "8")
    return works


def test_splits_are_the_members_found(members, tmp_path):
    splits = corpus_splits("multi_cn", members)
    assert splits.train == {"aishell": "aishell_train", "thchs30": "thchs30_train"}
    assert splits.dev == ("aishell_dev", "thchs30_dev")
    assert splits.evaluate == ("aishell_dev", "aishell_test", "thchs30_dev", "thchs30_test")
    with pytest.raises(FileNotFoundError, match="no member corpus under"):
        corpus_splits("multi_cn", tmp_path)
    assert set(MEMBERS) == {"aishell", "thchs30", "stcmds", "primewords", "aidatatang_200zh", "magicdata"}


def test_union_trains_on_both_members_with_their_own_labels(multi_run):
    work, proc = multi_run
    manifests = work / "data" / "manifests"
    # each member prepared by its own module: THCHS-30's labels come from its pinyin line
    thchs = {s["id"]: s for s in read_jsonl(manifests / "multi_cn_supervisions_labelled_thchs30_train.jsonl.gz")}
    assert thchs["A11_0"]["custom"]["pinyin"] == "geng4 shi4 lv4 de5 xian1 huo2"
    aishell = {s["id"]: s for s in read_jsonl(manifests / "multi_cn_supervisions_labelled_aishell_train.jsonl.gz")}
    assert aishell["BAC009S0002W0122"]["text"] == "楼市成交量下降"
    # the LM and lexicon know both corpora's training text
    lm_text = (work / "data/lang/lm_text.txt").read_text()
    assert "楼市 成交量 下降" in lm_text and "更是 绿 得 鲜活" in lm_text  # in jieba's words (lm.unit: word)
    # stage 6 mixed both training sets, AISHELL-1 twice per epoch; a weight for an absent member is ignored
    n_aishell, n_thchs = len(aishell), len(thchs)
    assert f"Training set aishell: {int(AISHELL_WEIGHT * n_aishell)} cuts per epoch (weight {AISHELL_WEIGHT})" in proc.stderr
    assert f"Training set thchs30: {n_thchs} cuts per epoch (weight 1.0)" in proc.stderr
    assert "train.mux_weights names magicdata, which is not among the training sets" in proc.stderr
    fbank = work / "data" / "fbank"
    mixed = list(mix_cut_sets({"aishell": fbank / "multi_cn_cuts_aishell_train.jsonl.gz",
                               "thchs30": fbank / "multi_cn_cuts_thchs30_train.jsonl.gz"},
                              {"aishell": AISHELL_WEIGHT}))
    assert len(mixed) == 2 * n_aishell + n_thchs
    assert {c.supervisions[0].id for c in mixed} == set(aishell) | set(thchs)


def test_each_test_set_gets_its_own_score(multi_run):
    work, _ = multi_run
    summary = json.loads((work / "exp/decode/summary.json").read_text())
    assert set(summary) == {"aishell_dev", "aishell_test", "thchs30_dev", "thchs30_test"}
    for split, replica in (("aishell_test", replica_aishell), ("thchs30_test", replica_thchs30)):
        hyps = (work / "exp/decode" / split / "hlg_char.hyps.txt").read_text().splitlines()
        ids = sorted(h.split("\t")[0] for h in hyps)
        if replica is replica_aishell:
            assert ids == sorted(replica.utt_id(spk, n) for spk, utts in replica.UTTERANCES["test"].items()
                                 for n, _ in utts)
        else:
            assert ids == sorted(u for u, _, _ in replica.UTTERANCES["test"])
        assert re.match(r"%PER \d+\.\d\d", (work / "exp/decode" / split / "summary.txt").read_text())
    results = (work / "RESULTS.md").read_text()
    assert "| replica_multi_cn.yaml aishell |" in results and "| replica_multi_cn.yaml thchs30 |" in results
    assert (work / "exp/model/HLG.fst").is_file()


def test_compare_writes_the_decode_results_as_matrix_and_heatmap(multi_run, single_runs, tmp_path):
    multi_work, _ = multi_run
    models = [Labelled(m, single_runs[m] / "exp/model") for m in ("aishell", "thchs30")]
    models.append(Labelled("multi_cn", multi_work / "exp/model"))
    tests = [Labelled(m, single_runs[m] / "data/fbank" / f"{m}_cuts_test.jsonl.gz") for m in ("aishell", "thchs30")]
    out = tmp_path / "compare"
    code = asrt_main(["compare", *(f"--model={m.label}={m.path}" for m in models),
                      *(f"--test={t.label}={t.path}" for t in tests), "--out-dir", str(out)])
    assert code == 0
    matrix = json.loads((out / "matrix.json").read_text())
    assert matrix["rows"] == ["aishell", "thchs30", "multi_cn"] and matrix["cols"] == ["aishell", "thchs30"]
    # the diagonal is each recipe's own stage-7 test result, multi_cn's row its per-corpus test results
    for m in ("aishell", "thchs30"):
        own = json.loads((single_runs[m] / "exp/decode/summary.json").read_text())["test"]
        assert matrix["per"][m][m] == pytest.approx(own["per"]) and matrix["cer"][m][m] == pytest.approx(own["cer"])
        union = json.loads((multi_work / "exp/decode/summary.json").read_text())[f"{m}_test"]
        assert matrix["per"]["multi_cn"][m] == pytest.approx(union["per"])
        assert matrix["cer"]["multi_cn"][m] == pytest.approx(union["cer"])
    # off the diagonal: a model decodes another corpus's test set with its own graph, scored as stage 7 does
    cross = out / "aishell" / "thchs30"
    first = (cross / "summary.txt").read_text().splitlines()
    assert first[0].startswith(f"%PER {matrix['per']['aishell']['thchs30']:.2f} [")
    assert first[1].startswith(f"%CER {matrix['cer']['aishell']['thchs30']:.2f} [")
    assert len((cross / "hlg_char.hyps.txt").read_text().splitlines()) == len(replica_thchs30.UTTERANCES["test"])
    md = (out / "matrix.md").read_text()
    for key, title in (("cer", "## CER"), ("per", "## PER")):
        table = md.split(title)[1]
        for r in matrix["rows"]:
            cells = [f"**{matrix[key][r][c]:.2f}**" if r == c else f"{matrix[key][r][c]:.2f}" for c in matrix["cols"]]
            assert f"| {r} | " + " | ".join(cells) + " |" in table
    with Image.open(out / "matrix.png") as png:
        assert png.format == "PNG" and png.size == heatmap_size(3, 2)
        png.load()
    # a rerun reuses every pair's result and writes the same matrix
    assert compare(models, tests, out)["cer"] == matrix["cer"]


def test_compare_resolves_relative_feature_paths(single_runs, tmp_path, monkeypatch):
    """Features stored relative to another recipe's directory are found from anywhere."""
    work = single_runs["thchs30"]
    cuts = read_jsonl(work / "data/fbank/thchs30_cuts_test.jsonl.gz")
    for c in cuts:
        c["features"]["storage_path"] = str(Path(c["features"]["storage_path"]).relative_to(work))
    relative = work / "data/fbank/thchs30_cuts_test_relative.jsonl.gz"
    with gzip.open(relative, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(c, ensure_ascii=False) + "\n" for c in cuts)
    monkeypatch.chdir(tmp_path)
    model = Labelled("thchs30", work / "exp/model")
    matrix = compare([model], [Labelled("thchs30", relative)], tmp_path / "out")
    own = json.loads((work / "exp/decode/summary.json").read_text())["test"]
    assert matrix["cer"]["thchs30"]["thchs30"] == pytest.approx(own["cer"])


def test_compare_missing_inputs_end_in_one_sentence(single_runs, tmp_path, capsys):
    model = single_runs["aishell"] / "exp/model"
    cuts = single_runs["aishell"] / "data/fbank/aishell_cuts_test.jsonl.gz"
    assert asrt_main(["compare", f"--model=a={tmp_path}", f"--test=a={cuts}", "--out-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("asrt compare: error: model a:") and "run stage 8" in err and "\n" not in err
    assert asrt_main(["compare", f"--model=a={model}", f"--test=b={tmp_path}/none.jsonl.gz",
                      "--out-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("asrt compare: error: test set b:") and "run stage 3" in err
    assert asrt_main(["compare", f"--model={model}", f"--test=a={cuts}", "--out-dir", str(tmp_path)]) == 1
    assert "is not LABEL=PATH" in capsys.readouterr().err

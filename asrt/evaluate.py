"""Stage 7: decode dev/test cuts (greedy CTC to the output units, HLG to characters), score, record results.

Greedy CTC gives the model's units: pinyin is scored as PER (over toneless syllables for toneless
pinyin), characters and sentencepiece pieces are turned into text and scored as CER. HLG's characters
are scored as CER for every unit."""
from __future__ import annotations

import datetime
import logging
import subprocess
import time
from pathlib import Path

import torch
from tqdm import tqdm

from asrt.data import TokenTable
from asrt.decoding import HlgDecoder, ctc_greedy
from asrt.fileio import write_text_atomic
from asrt.scoring import char_tokens, format_summary, write_score_report
from asrt.train import load_model


def decode_cuts(model, cuts, tokens: TokenTable, decoder: HlgDecoder, desc: str = "decoding") -> dict:
    """Decode every cut; return references, hypotheses and timing (seconds of model and search time).

    ``refs_py``/``hyps_py`` hold the output units (pinyin, characters or pieces) of reference and greedy
    decoding, ``refs_ch``/``hyps_ch`` the characters of reference and HLG decoding."""
    refs_py, refs_ch, hyps_py, hyps_ch = {}, {}, {}, {}
    t_model = t_greedy = t_hlg = audio = 0.0
    for cut in tqdm(cuts, desc=desc, unit="utt"):
        sup = cut.supervisions[0]
        refs_py[cut.id] = tokens.units.supervision_labels(sup)
        refs_ch[cut.id] = char_tokens(sup.text)
        feats = torch.from_numpy(cut.load_features())
        t0 = time.perf_counter()
        with torch.no_grad():
            lp, lens = model(feats.unsqueeze(0), torch.tensor([feats.shape[0]]))
        lp = lp[0, : lens[0]].numpy()
        t1 = time.perf_counter()
        hyps_py[cut.id] = tokens.decode(ctc_greedy(lp))
        t2 = time.perf_counter()
        hyps_ch[cut.id] = char_tokens("".join(decoder.decode(lp)))
        t3 = time.perf_counter()
        t_model, t_greedy, t_hlg = t_model + t1 - t0, t_greedy + t2 - t1, t_hlg + t3 - t2
        audio += cut.duration
    return {"refs_py": refs_py, "refs_ch": refs_ch, "hyps_py": hyps_py, "hyps_ch": hyps_ch,
            "rtf_greedy": (t_model + t_greedy) / audio, "rtf_hlg": (t_model + t_hlg) / audio}


def git_commit() -> str:
    """Short hash of the checked-out commit (``unknown`` outside a git checkout)."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


RESULTS_HEADER = ("| date | commit | config | model | dev PER | dev CER | test PER | test CER | RTF greedy | RTF HLG |\n"
                  "|---|---|---|---|---|---|---|---|---|---|\n")


def evaluate(model_path: Path, lang_dir: Path, cuts_by_split: dict[str, Path], out_dir: Path, decode_cfg: dict,
             num_threads: int = 1) -> dict[str, dict[str, float]]:
    """Decode and score each split into ``out_dir/<split>/``; return {split: {per, cer, rtf_greedy, rtf_hlg}}."""
    from lhotse import load_manifest_lazy

    torch.set_num_threads(num_threads)
    model, _ = load_model(model_path)
    tokens = TokenTable(Path(lang_dir) / "tokens.txt")
    decoder = HlgDecoder.from_dir(lang_dir, decode_cfg)
    summary = {}
    for split, path in cuts_by_split.items():
        summary[split] = decode_and_score(model, load_manifest_lazy(path), tokens, decoder, Path(out_dir) / split,
                                          num_threads)
        logging.info("%s:\n%s", split, (Path(out_dir) / split / "summary.txt").read_text())
    return summary


def decode_and_score(model, cuts, tokens: TokenTable, decoder: HlgDecoder, split_dir: Path,
                     num_threads: int = 1, desc: str = "decoding") -> dict[str, float]:
    """Decode ``cuts``, write the score reports and ``summary.txt`` into ``split_dir``; return
    {units, per, greedy_cer, cer, rtf_greedy, rtf_hlg} (error rates in percent). ``per`` is None unless the
    units are pinyin, ``greedy_cer`` None unless they are not."""
    units = tokens.units
    r = decode_cuts(model, cuts, tokens, decoder, desc)
    per = greedy_cer = None
    if units.is_pinyin:
        per = write_score_report(split_dir, "greedy_pinyin", r["refs_py"], r["hyps_py"], metric="PER")
        greedy_line = f"{format_summary(per, 'PER')}  (greedy CTC, {units.description})"
    else:
        hyps_text = {k: char_tokens(units.to_text(v)) for k, v in r["hyps_py"].items()}
        greedy_cer = write_score_report(split_dir, "greedy_char", r["refs_ch"], hyps_text, metric="CER")
        greedy_line = f"{format_summary(greedy_cer, 'CER')}  (greedy CTC, {units.description} as characters)"
    cer = write_score_report(split_dir, "hlg_char", r["refs_ch"], r["hyps_ch"], metric="CER")
    text = (f"{greedy_line}\n"
            f"{format_summary(cer, 'CER')}  (HLG, characters)\n"
            f"RTF greedy {r['rtf_greedy']:.4f}, RTF HLG {r['rtf_hlg']:.4f} ({num_threads} thread(s))\n")
    write_text_atomic(Path(split_dir) / "summary.txt", text)

    def pct(counts):
        return None if counts is None else 100 * counts.rate

    return {"units": units.name, "per": pct(per), "greedy_cer": pct(greedy_cer), "cer": 100 * cer.rate,
            "rtf_greedy": r["rtf_greedy"], "rtf_hlg": r["rtf_hlg"]}


def append_results_row(results_md: Path, config_name: str, model_name: str, summary: dict) -> str:
    """Add one row (date, commit, config, PER/CER on dev and test, RTF) to the table in a recipe's RESULTS.md.

    The row goes right after the table's last row, so notes written below the table stay below it.
    """
    results_md = Path(results_md)
    text = results_md.read_text(encoding="utf-8") if results_md.exists() else "# Results\n\n"
    if RESULTS_HEADER not in text:
        text = text.rstrip("\n") + "\n\n" + RESULTS_HEADER
    d, t = summary.get("dev", {}), summary.get("test", {})

    def fmt(x: float | None, digits: int = 2) -> str:
        return "-" if x is None else f"{x:.{digits}f}"

    row = (f"| {datetime.date.today().isoformat()} | {git_commit()} | {config_name} | {model_name} "
           f"| {fmt(d.get('per'))} | {fmt(d.get('cer'))} | {fmt(t.get('per'))} | {fmt(t.get('cer'))} "
           f"| {fmt(t.get('rtf_greedy'), 4)} | {fmt(t.get('rtf_hlg'), 4)} |\n")
    head, table_start, rest = text.partition(RESULTS_HEADER)
    lines = rest.splitlines(keepends=True)
    n_rows = next((i for i, line in enumerate(lines) if not line.startswith("|")), len(lines))
    if n_rows == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    write_text_atomic(results_md, head + table_start + "".join(lines[:n_rows]) + row + "".join(lines[n_rows:]))
    return row

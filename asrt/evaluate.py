"""Stage 7: decode dev/test cuts (greedy CTC to the output units, HLG to characters), score, record results.

Greedy CTC gives the model's units: pinyin is scored as PER (over toneless syllables for toneless
pinyin), characters and sentencepiece pieces are turned into text and scored as CER. HLG's characters
are scored as CER for every unit."""
from __future__ import annotations

import datetime
import logging
import time
from pathlib import Path

import torch
from tqdm import tqdm

from asrt.checkpoint import load_model
from asrt.data import TokenTable
from asrt.decoding import HlgDecoder, ctc_greedy
from asrt.fileio import write_text_atomic
from asrt.names import TOKENS_FILE
from asrt.scoring import (char_tokens, format_group_table, format_summary, format_tone_confusion, group_counts,
                          tone_confusion, write_score_report)
from asrt.version import git_commit


NOISY = "noisy"  # the group of utterances with added noise, across conditions


def condition_groups(sup) -> list[str]:
    """The groups a supervision is scored in besides the whole split: its recording condition
    (``custom["condition"]``, as mini_cmn writes it) and ``noisy`` when noise was added (``custom["snr_db"]``)."""
    custom = sup.custom or {}
    groups = [str(custom["condition"])] if custom.get("condition") else []
    return groups + ([NOISY] if custom.get("snr_db") is not None else [])


def decode_cuts(model, cuts, tokens: TokenTable, decoder: HlgDecoder, desc: str = "decoding") -> dict:
    """Decode every cut; return references, hypotheses and timing (seconds of model and search time).

    ``greedy_refs``/``greedy_hyps`` hold the tokens greedy CTC output is scored on (the output units for
    pinyin, else the characters they spell: :meth:`asrt.units.Units.greedy_scoring`), ``refs_ch``/``hyps_ch``
    the characters of reference and HLG decoding."""
    units = tokens.units
    greedy_refs, greedy_hyps, refs_ch, hyps_ch, groups = {}, {}, {}, {}, {}
    t_model = t_greedy = t_hlg = audio = 0.0
    for cut in tqdm(cuts, desc=desc, unit="utt"):
        sup = cut.supervisions[0]
        for group in condition_groups(sup):
            groups.setdefault(group, []).append(cut.id)
        refs_ch[cut.id] = char_tokens(sup.text)
        feats = torch.from_numpy(cut.load_features())
        t0 = time.perf_counter()
        with torch.no_grad():
            lp, lens = model(feats.unsqueeze(0), torch.tensor([feats.shape[0]]))
        lp = lp[0, : lens[0]].numpy()
        t1 = time.perf_counter()
        hyp = tokens.decode(ctc_greedy(lp))
        t2 = time.perf_counter()
        hyps_ch[cut.id] = char_tokens("".join(decoder.decode(lp)))
        t3 = time.perf_counter()
        greedy_refs[cut.id], greedy_hyps[cut.id] = units.greedy_scoring(sup, hyp)
        t_model, t_greedy, t_hlg = t_model + t1 - t0, t_greedy + t2 - t1, t_hlg + t3 - t2
        audio += cut.duration
    return {"greedy_refs": greedy_refs, "greedy_hyps": greedy_hyps, "refs_ch": refs_ch, "hyps_ch": hyps_ch,
            "groups": dict(sorted(groups.items(), key=lambda g: (g[0] == NOISY, g[0]))),
            "rtf_greedy": (t_model + t_greedy) / audio, "rtf_hlg": (t_model + t_hlg) / audio}


RESULTS_HEADER = ("| date | commit | config | model | dev PER | dev CER | test PER | test CER | RTF greedy | RTF HLG |\n"
                  "|---|---|---|---|---|---|---|---|---|---|\n")


def evaluate(model_path: Path, lang_dir: Path, cuts_by_split: dict[str, Path], out_dir: Path, decode_cfg: dict,
             num_threads: int = 1, rescore_lm: Path | None = None) -> dict[str, dict[str, float]]:
    """Decode and score each split into ``out_dir/<split>/``; return {split: {per, cer, rtf_greedy, rtf_hlg}}.
    ``rescore_lm`` is stage 4's rescoring LM, for ``decode.method: rescore``."""
    from lhotse import load_manifest_lazy

    torch.set_num_threads(num_threads)
    model, _ = load_model(model_path)
    tokens = TokenTable(Path(lang_dir) / TOKENS_FILE)
    decoder = HlgDecoder.from_dir(lang_dir, decode_cfg, rescore_lm)
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
    units are pinyin, ``greedy_cer`` None unless they are not. Tonal pinyin adds ``per_tone_only`` and
    ``per_base`` (PER's tone-only and base-syllable parts) and the tone tables to ``summary.txt``."""
    units = tokens.units
    r = decode_cuts(model, cuts, tokens, decoder, desc)
    greedy = write_score_report(split_dir, units.greedy_report, r["greedy_refs"], r["greedy_hyps"],
                                metric=units.greedy_metric)
    greedy_line = f"{format_summary(greedy, units.greedy_metric)}  (greedy CTC, {units.greedy_description})"
    per, greedy_cer = (greedy, None) if units.is_pinyin else (None, greedy)
    cer = write_score_report(split_dir, "hlg_char", r["refs_ch"], r["hyps_ch"], metric="CER")
    text = (f"{greedy_line}\n"
            f"{format_summary(cer, 'CER')}  (HLG, characters)\n"
            f"RTF greedy {r['rtf_greedy']:.4f}, RTF HLG {r['rtf_hlg']:.4f} ({num_threads} thread(s))\n")
    tone_split = {}
    if units.has_tones:  # split PER into tone-only and base-syllable errors, with the 5x5 tone tables
        tones = tone_confusion(r["greedy_refs"], r["greedy_hyps"])
        text += format_tone_confusion(tones, units.greedy_metric)
        tone_split = {"per_tone_only": 100 * tones.tone_only_rate, "per_base": 100 * tones.base_rate}
    by_condition = {}
    if r["groups"]:  # error rates per recording condition
        g_greedy = group_counts(r["greedy_refs"], r["greedy_hyps"], r["groups"])
        g_chars = group_counts(r["refs_ch"], r["hyps_ch"], r["groups"])
        sizes = {g: len(ids) for g, ids in r["groups"].items()}
        text += format_group_table(g_greedy, g_chars, sizes, units.greedy_metric)
        by_condition = {"by_condition": {g: {"utts": sizes[g], "greedy": 100 * g_greedy[g].rate,
                                             "cer": 100 * g_chars[g].rate} for g in g_greedy}}
    write_text_atomic(Path(split_dir) / "summary.txt", text)

    def pct(counts):
        return None if counts is None else 100 * counts.rate

    return {"units": units.name, "per": pct(per), "greedy_cer": pct(greedy_cer), "cer": 100 * cer.rate,
            "rtf_greedy": r["rtf_greedy"], "rtf_hlg": r["rtf_hlg"], **tone_split, **by_condition}


def append_results_rows(results_md: Path, config_name: str, model_label: str,
                        summary: dict[str, dict], resume: bool = False) -> list[str]:
    """Add the rows of a decode's ``summary`` ({split: scores}) to RESULTS.md; return them. Splits named
    ``dev``/``test`` make one row; those named ``<corpus>_dev``/``<corpus>_test`` (a union of corpora) make
    a row per corpus, labelled with it. With ``resume`` (stage 7 run again after a kill), a row the killed
    run added is replaced, not added twice (see :func:`_append_row`)."""
    groups = {"": summary} if "test" in summary or "dev" in summary else {}
    for split, result in summary.items():
        corpus, _, kind = split.rpartition("_")
        if corpus and kind in ("dev", "test"):
            groups.setdefault(corpus, {})[kind] = result
    rows = []
    for corpus, group in groups.items():
        name = f"{config_name} {corpus}".strip()
        rows.append(append_results_row(results_md, name, model_label, group, resume))
        if group.get("test", {}).get("by_condition"):
            rows.append(append_condition_row(results_md, name, model_label, group["test"]["by_condition"], resume))
    return rows


def _fmt(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def append_results_row(results_md: Path, config_name: str, model_name: str, summary: dict,
                       resume: bool = False) -> str:
    """Add one row (date, commit, config, PER/CER on dev and test, RTF) to the table in a recipe's RESULTS.md."""
    d, t = summary.get("dev", {}), summary.get("test", {})
    row = (f"| {datetime.date.today().isoformat()} | {git_commit()} | {config_name} | {model_name} "
           f"| {_fmt(d.get('per'))} | {_fmt(d.get('cer'))} | {_fmt(t.get('per'))} | {_fmt(t.get('cer'))} "
           f"| {_fmt(t.get('rtf_greedy'), 4)} | {_fmt(t.get('rtf_hlg'), 4)} |\n")
    return _append_row(results_md, RESULTS_HEADER, row, resume)


def append_condition_row(results_md: Path, config_name: str, model_name: str, by_condition: dict,
                         resume: bool = False) -> str:
    """Add a row of test error rates per recording condition (greedy units / characters) to the table of
    these conditions in RESULTS.md."""
    names = list(by_condition)
    header = ("| date | commit | config | model | " + " | ".join(f"test {n}" for n in names) + " |\n"
              + "|---" * (4 + len(names)) + "|\n")
    cells = " | ".join(f"{_fmt(c['greedy'])} / {_fmt(c['cer'])}" for c in by_condition.values())
    row = f"| {datetime.date.today().isoformat()} | {git_commit()} | {config_name} | {model_name} | {cells} |\n"
    return _append_row(results_md, header, row, resume)


def _append_row(results_md: Path, header: str, row: str, resume: bool = False) -> str:
    """Add ``row`` to the last table under ``header`` in ``results_md`` (a new table at the end if none), right
    after its last row, so notes written below the table stay below it.

    With ``resume``, a last row with the same date, commit, config and model is the killed run's own (it
    died after writing it): ``row`` replaces it, so each finished run leaves one row.
    """
    results_md = Path(results_md)
    text = results_md.read_text(encoding="utf-8") if results_md.exists() else "# Results\n\n"
    if header not in text:
        text = text.rstrip("\n") + "\n\n" + header
    head, table_start, rest = text.rpartition(header)
    lines = rest.splitlines(keepends=True)
    n_rows = next((i for i, line in enumerate(lines) if not line.startswith("|")), len(lines))
    if n_rows == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    if resume and n_rows and lines[n_rows - 1].split("|")[1:5] == row.split("|")[1:5]:
        n_rows -= 1
        lines.pop(n_rows)
    write_text_atomic(results_md, head + table_start + "".join(lines[:n_rows]) + row + "".join(lines[n_rows:]))
    return row

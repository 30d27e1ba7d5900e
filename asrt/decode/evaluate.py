"""Stage 7: decode dev/test cuts (greedy CTC to the output units, HLG to characters) and score them
(the rows they add to RESULTS.md: :mod:`asrt.decode.results`).

Greedy CTC gives the model's units: pinyin is scored as PER (over toneless syllables for toneless
pinyin), characters and sentencepiece pieces are turned into text and scored as CER. HLG's characters
are scored as CER for every unit."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Mapping

import torch
from tqdm import tqdm

from asrt.decode.greedy import ctc_greedy
from asrt.decode.scoring import (
    format_group_table, format_summary, format_tone_confusion, group_counts, tone_confusion, write_score_report,
)
from asrt.decode.search import HlgDecoder
from asrt.fileio import write_text_atomic
from asrt.lang.tokens import TokenTable
from asrt.models.checkpoint import load_model
from asrt.names import SPLIT_SUMMARY_FILE, TOKENS_FILE
from asrt.text.normalize import char_tokens

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
    pinyin, else the characters they spell: :meth:`asrt.lang.units.Units.greedy_scoring`), ``refs_ch``/``hyps_ch``
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


def evaluate(model_path: Path, lang_dir: Path, cuts_by_split: dict[str, Path], out_dir: Path, decode_cfg: Mapping,
             num_threads: int, rescore_lm: Path | None = None) -> dict[str, dict[str, float]]:
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
        logging.info("%s:\n%s", split, (Path(out_dir) / split / SPLIT_SUMMARY_FILE).read_text())
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
    write_text_atomic(Path(split_dir) / SPLIT_SUMMARY_FILE, text)

    def pct(counts):
        return None if counts is None else 100 * counts.rate

    return {"units": units.name, "per": pct(per), "greedy_cer": pct(greedy_cer), "cer": 100 * cer.rate,
            "rtf_greedy": r["rtf_greedy"], "rtf_hlg": r["rtf_hlg"], **tone_split, **by_condition}

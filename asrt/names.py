"""The numbers and names every stage agrees on, each written down once: the sample rate, the CTC blank, the
graph symbols, and the files through which stages talk. This module imports nothing of asrt; ``asrt paths``
hands run.sh the names it needs (:class:`asrt.recipe.RecipePaths`).

A recipe's files (``--data-dir``, default ``data``; ``--exp-dir``, default ``exp/<config name>``)::

    data/local/<corpus>/                            the corpus (stage 0), unless --corpus-dir says elsewhere
    data/manifests/<corpus>_<kind>_<split>.jsonl.gz  recordings, supervisions (1), supervisions_labelled (2)
    data/lang[_<units>]/                            tokens.txt, lexicon[p].txt, words.txt, lm_text.txt (2), HLG.fst, LG_pinyin.fst (5)
    data/fbank/<corpus>_cuts_<split>.jsonl.gz       cuts with features (3), stored in <corpus>_feats_<split>/
    data/lm_<lm unit>/lm.arpa, lm_rescore.bin       the graph's n-gram LM, the rescoring LM (4; lm_word, lm_char)
    data/lm_<lm unit>/lm_rescore_char.bin           the character rescoring LM (4)
    exp/<config>/                                   model.pt, epoch-<E>.pt, checkpoints/ (6), decode/ (7), model/ (8)

A union of corpora (``multi_cn``) names its splits ``<member>_<split>``, so its files are
``multi_cn_cuts_aishell_train.jsonl.gz`` and so on.
"""
from __future__ import annotations

from pathlib import Path

# Audio: every recording is resampled to this rate before features (asrt/audio.py), and models expect it.
SAMPLE_RATE = 16000

# CTC: the blank is the first line of tokens.txt, ``<blk> 0``, and the model's output 0.
BLANK = "<blk>"
BLANK_ID = 0

# Files of a lang directory (stages 2 and 5), also copied into a packaged model directory (stage 8).
TOKENS_FILE = "tokens.txt"
LEXICON_FILE = "lexicon.txt"
LEXICONP_FILE = "lexiconp.txt"  # Kaldi's: WORD PROB UNIT ..., pronunciation probabilities (pinyin units)
WORDS_FILE = "words.txt"
LM_TEXT_FILE = "lm_text.txt"
HLG_FILE = "HLG.fst"
P2H_FILE = "LG_pinyin.fst"  # pinyin units: T o LG, the graph that turns pinyin into characters (/language)
UNITS_FILE = "units.json"  # which output units (asrt/lang/units.py); none: tonal pinyin
BPE_MODEL_FILE = "bpe.model"  # bpe units: the sentencepiece model
TOKENS_DISAMBIG_FILE = "tokens_disambig.txt"  # tokens.txt with the disambiguation symbols #0, #1, ... (stage 2)
LEXICON_DISAMBIG_FILE = "lexicon_disambig.txt"  # lexicon.txt with them (stage 2)
GRAMMAR_FILE = "G.fst"  # the LM as an FST, a scratch file of stage 5 beside words.txt
# Files of an experiment and of a packaged model directory (stages 6-8), and of an exported one.
MODEL_FILE = "model.pt"
CONFIG_FILE = "config.yaml"
METADATA_FILE = "metadata.json"
ONNX_MODEL_FILE = "model.onnx"
STREAMING_ONNX_MODEL_FILE = "model-streaming.onnx"  # asrt export --streaming; not model.onnx, which the ONNX backend runs offline
SUMMARY_FILE = "summary.json"  # exp/<config>/decode/summary.json: stage 7's scores
SPLIT_SUMMARY_FILE = "summary.txt"  # exp/<config>/decode/<split>/summary.txt: one split's scores, for people
DECODE_DIR = "decode"
PACKAGE_DIR = "model"
CHECKPOINT_DIR = "checkpoints"  # exp/<config>/checkpoints/step-<N>.pt: resumable training states (stage 6)
TENSORBOARD_DIR = "tensorboard"
MATRIX_FILES = ("matrix.md", "matrix.json", "matrix.png")  # asrt compare's cross-corpus matrix
# Directories and files of a data directory.
MANIFEST_DIR = "manifests"
FEATURE_DIR = "fbank"
ARPA_FILE = "lm.arpa"  # in the LM directory, data/lm_<lm.unit> (stage 4)
RESCORE_LM_FILE = "lm_rescore.bin"  # beside ARPA_FILE and in a packaged model: KenLM binary
CHAR_RESCORE_LM_FILE = "lm_rescore_char.bin"  # beside RESCORE_LM_FILE: the character n-gram for rescoring
LANG_DIR = "lang"


def manifest_path(manifest_dir: Path, corpus: str, kind: str, split: str) -> Path:
    """Path of one manifest, ``<corpus>_<kind>_<split>.jsonl.gz``; ``kind`` is ``recordings``,
    ``supervisions``, ``supervisions_labelled`` or ``cuts``."""
    return Path(manifest_dir) / f"{corpus}_{kind}_{split}.jsonl.gz"


def cuts_path(feature_dir: Path, corpus: str, split: str) -> Path:
    """The cuts with features of one split (stage 3)."""
    return manifest_path(feature_dir, corpus, "cuts", split)


def feature_storage(feature_dir: Path, corpus: str, split: str) -> Path:
    """Where stage 3 stores one split's feature matrices (lilcom archives)."""
    return Path(feature_dir) / f"{corpus}_feats_{split}"


def config_name(config: str | Path | None) -> str:
    """A config's name: its file name without ``.yaml`` (``default`` without a config)."""
    return Path(config).name.removesuffix(".yaml") if config else "default"


# Stage 6's files of exp/<config>, by pattern (for glob) and by number.
EPOCH_MODEL_GLOB, AVERAGED_MODEL_GLOB, STEP_CHECKPOINT_GLOB = "epoch-*.pt", "model-avg*.pt", "step-*.pt"


def epoch_model_path(exp_dir: Path, epoch: int) -> Path:
    """The weights after epoch ``epoch`` (stage 6), ``epoch-<E>.pt``."""
    return Path(exp_dir) / f"epoch-{epoch}.pt"


def averaged_model_path(exp_dir: Path, avg: int) -> Path:
    """The average of the last ``avg`` epochs' weights (stages 7 and 8), ``model-avg<N>.pt``."""
    return Path(exp_dir) / f"model-avg{avg}.pt"


def step_checkpoint_path(ckpt_dir: Path, step: int) -> Path:
    """A resumable training state after optimiser step ``step``, ``step-<N>.pt``."""
    return Path(ckpt_dir) / f"step-{step}.pt"


def checkpoint_step(path: Path) -> int:
    """The step of a :func:`step_checkpoint_path`."""
    return int(Path(path).stem.split("-")[1])


# Graph symbols (stages 2 and 5): OpenFst's epsilon, the LM's sentence boundaries and the back-off
# disambiguation symbol; further disambiguation symbols are #1, #2, ...
EPS = "<eps>"
BOS = "<s>"
EOS = "</s>"
BACKOFF_DISAMBIG = "#0"
RESERVED_WORDS = (EPS, BACKOFF_DISAMBIG, BOS, EOS)
DISAMBIG_PREFIX = "#"


def is_disambig(symbol: str) -> bool:
    """True for a disambiguation symbol (``#0``, ``#1``, ...)."""
    return symbol.startswith(DISAMBIG_PREFIX)


def is_graph_symbol(word: str) -> bool:
    """True for a graph-internal symbol of words.txt that is never a word of a transcript."""
    return word in RESERVED_WORDS or is_disambig(word)

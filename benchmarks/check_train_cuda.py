"""A check of asrt/train/trainer.py on CUDA: AMP fp16 (GradScaler) through an interrupted and resumed run, AMP auto
(bf16), and the whole training loop's rate with DataLoader workers 0 vs auto (8) on synthetic 80-bin lilcom
features (4.5 s cuts on average; the AISHELL-1 recipe's model, batch and SpecAugment, 2 epochs).

Run from the repository root: ``python benchmarks/check_train_cuda.py OUT_DIR [NUM_TRAIN_CUTS]`` (docs/training.md,
"Training at scale", quotes ``/tmp/gc 3000`` on an H200). It reuses tests/test_ddp.py's tiny corpus.
"""
import io
import logging
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, "tests")
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
from test_ddp import tiny_config, write_corpus

import asrt.train.trainer as T
from asrt.config import load_config

out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
n_big = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
dev = "cuda" if torch.cuda.is_available() else "cpu"
print("device", dev, torch.__version__, torch.cuda.get_device_name() if dev == "cuda" else "")
tr, dv, lang = write_corpus(out / "tiny")

# (a) fp16 + GradScaler, interrupted after step 6, resumed
class Stop(Exception): pass
save = T.save_atomic
def crash(obj, path):
    save(obj, path)
    if Path(path).name == "step-6.pt": raise Stop
cfg = tiny_config(device=dev, amp="fp16" if dev == "cuda" else "bf16", num_workers=2)
T.save_atomic = crash
try:
    T.train(tr, dv, lang, out / "fp16", cfg); print("NOT INTERRUPTED")
except Stop:
    print("interrupted at step-6.pt")
T.save_atomic = save
ck = torch.load(out / "fp16/checkpoints/step-6.pt", weights_only=False)
print("scaler state:", ck["scaler"])
T.train(tr, dv, lang, out / "fp16", cfg)
L = [torch.load(out / f"fp16/epoch-{e}.pt", weights_only=False)["train_loss"] for e in (1, 2, 3)]
print("fp16 epoch train losses", L)
# (b) auto (bf16 on an H100/H200)
T.train(tr, dv, lang, out / "auto", tiny_config(device=dev, amp="auto", num_workers="auto"))
L = [torch.load(out / f"auto/epoch-{e}.pt", weights_only=False)["train_loss"] for e in (1, 2, 3)]
print("auto epoch train losses", L)

# (c) loop rate, workers 0 vs auto, AISHELL-1 config on synthetic 4.5 s cuts
from lhotse import CutSet, MonoCut, SupervisionSegment
from lhotse.features import Features
from lhotse.features.io import LilcomChunkyWriter

rng = np.random.default_rng(0)
syll = ["a1", "ba2", "ci3", "de4", "e5", "fu1", "ge2", "hu3"]
big = out / "big"; big.mkdir()
t0 = time.time()
for split, n in (("train", n_big), ("dev", 40)):
    cuts = []
    with LilcomChunkyWriter(big / f"feats_{split}") as w:
        for i in range(n):
            T_ = int(rng.integers(300, 600))
            f = (rng.normal(0, 1, (T_, 80)) + 10).astype(np.float32)
            cid = f"{split}{i}"
            feats = Features(type="fbank", num_frames=T_, num_features=80, frame_shift=0.01, sampling_rate=16000,
                             start=0, duration=T_ / 100, storage_type=w.name, storage_path=str(w.storage_path),
                             storage_key=w.write(cid, f))
            p = " ".join(rng.choice(syll, size=T_ // 40))
            cuts.append(MonoCut(cid, 0, T_ / 100, 0, features=feats,
                                supervisions=[SupervisionSegment(cid, cid, 0, T_ / 100, text="x", custom={"pinyin": p})]))
    CutSet.from_cuts(cuts).to_file(big / f"cuts_{split}.jsonl.gz")
hours = sum(c.duration for c in CutSet.from_file(big / "cuts_train.jsonl.gz")) / 3600
print(f"synthetic corpus {hours:.2f} h in {time.time() - t0:.0f} s")
acfg = load_config("egs/aishell/conf/default.yaml")
for workers in (0, "auto"):
    c = {**acfg, "train": {**acfg["train"], "epochs": 2, "num_workers": workers, "checkpoint_every_steps": 10**6}}
    buf = io.StringIO(); h = logging.StreamHandler(buf); logging.getLogger().addHandler(h)
    t0 = time.time()
    T.train(big / "cuts_train.jsonl.gz", big / "cuts_dev.jsonl.gz", lang, out / f"rate_{workers}", c)
    logging.getLogger().removeHandler(h)
    rates = re.findall(r"([\d.]+) utt/s", buf.getvalue())
    utts = n_big
    amp_workers = re.findall(r'AMP \S+, \d+ loader worker', buf.getvalue())[:1]
    print(f"workers={workers}: epoch utt/s {rates}; audio s/s epoch 2 = {float(rates[-1]) * hours * 3600 / utts:.0f}; "
          f"wall {time.time() - t0:.0f} s; {amp_workers}")

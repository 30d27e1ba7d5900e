"""``asrt export --streaming``: a packaged streaming model as ONNX in the layout sherpa-onnx's
``OnlineRecognizer`` runs as a streaming zipformer2 CTC model, with tokens.txt and HLG.fst for its FST search.

Why zipformer2_ctc (sherpa-onnx's ``online-*-ctc-model.cc``, ``online-recognizer-ctc-impl.h``):

* Every online CTC model runs in ``OnlineRecognizerCtcImpl``: it feeds ``ChunkLength()`` feature frames
  and advances ``ChunkShift()`` frames, calls the model with (features, states...), reads the log-probs
  from output 0 (frames and vocabulary from its shape) and the new states from the outputs after it, and
  searches HLG with ``OnlineCtcFstDecoder`` whenever ``ctc_fst_decoder_config.graph`` is set, whatever
  the model type (``InitDecoder``); neither search scales or penalises the log-probs.
* zipformer2_ctc takes features ``[N, T, 80]`` as asrt does, with ChunkLength and ChunkShift from its
  metadata (``T``, ``decode_chunk_len``: equal here, no overlap), and its states are what ours are: a
  convolution cache per layer ``[N, encoder_dim, cnn_module_kernel / 2]``, the conv front-end's cache
  ``[N, 128, 3, 19]`` and a processed-frames counter ``[N]`` int64, batched by sherpa-onnx itself; it is
  the one whose Python factory takes the HLG (``from_zipformer2_ctc(ctc_graph=...)``). Its five other
  per-layer states (attention caches) are kept as small as its metadata allows and passed through.
* wenet_ctc multiplies the samples by 32768 (``PostInit``: ``normalize_samples = false``), overlaps its
  chunks (``ChunkLength = (chunk_size - 1) * subsampling + right_context + 1``), takes its chunk size from
  the app's config, not the model, and decodes one stream at a time (``StackStates``). nemo_ctc fits the
  states as well (three batch-first tensors) but transposes the features to ``[N, 80, T]``, adds a length
  input, counts ``vocab_size`` without the blank, and its Python factory has no ``ctc_graph``.
* Features are sherpa-onnx's defaults for all three (``features.h``): kaldi-native-fbank, 80 bins,
  25/10 ms, povey window, 20 Hz to Nyquist - 400 Hz, no dither, ``snip_edges=false``, samples in [-1, 1]:
  lhotse's Kaldi fbank that asrt's models learn from (as for ``asrt export``, asrt/packaged/export.py).

The graph is a pure function ``(x, *states) -> (log_probs, *new_states)`` of one chunk, with the states in
sherpa-onnx's order and shapes (``N`` streams, ``L`` blocks of ``C`` channels and kernel ``K``; the outputs
are the inputs' names with ``new_`` before them):

* ``x`` ``[N, 8 * chunk_frames, 80]``: raw fbank frames (the graph normalises them with the model's
  feat_mean/feat_std, as ``ChunkStream`` does); output ``log_probs`` ``[N, chunk_frames, V]``. A chunked
  tdnn's ``x`` is ``[N, 8 * (chunk_frames + lookahead), 80]``: its chunk and the right context after it
  (``T``; sherpa-onnx advances ``decode_chunk_len = 8 * chunk_frames`` frames, so that the next chunk
  computes those frames again as its own), and its front-end cache is the one after ``decode_chunk_len``.
* per block ``j``, six tensors: ``unused_key_j`` ``[1, N, 1]``, ``unused_nonlin_attn_j`` ``[1, N, 1, 3C/4]``,
  ``unused_val1_j`` and ``unused_val2_j`` ``[1, N, 1]`` (zipformer2's attention caches at the smallest size
  its metadata gives, passed through), ``block_buffer_j`` ``[N, C, K - 1]`` (the block's last ``K - 1``
  input frames; a chunked tdnn's: its left context, ``K // 2``) and ``unused_conv2_j`` of the same shape
  (passed through).
* ``frontend_cache`` ``[N, 128, 3, 19]``: the causal front-end's cached input frame of each of its
  convolutions, flattened into its first values.
* ``processed_frames`` ``[N]`` int64: the front-end frames of the stream so far (chunks x chunk_frames).

A chunked tdnn's chunk gives out its own ``chunk_frames`` rows, equal to ``ChunkStream``'s. A causal
tdnn's outputs come ``lookahead`` frames late, as with ``ChunkStream``. The fixed shapes make a
block's state always ``K - 1`` frames, so the first chunk yields ``lookahead`` frames before the stream's
first: the graph zeroes them where they enter the next block (they are its left padding) and gives them
out as "certainly blank" rows (0 for the blank, ``NO_FRAME_LOG_PROB`` for the rest), so that a batch keeps
one shape whatever chunk each stream is at. Every later frame equals ``ChunkStream``'s. What differs:

* the leading blank rows: a CTC path may begin with any number of blanks and these cost every path
  alike, so neither search changes; sherpa-onnx's frame offsets count them.
* the end: sherpa-onnx has no final flush (``DecodeStream`` runs whole chunks only, and ``IsReady`` wants
  more than a chunk of frames), so an app feeds ``tail_padding_seconds`` of silence before
  ``input_finished()``. The last ``lookahead`` frames then see silence where ``ChunkStream.finish`` pads
  with zeros, and the padding's own frames follow.
* sherpa-onnx's ``GetResult`` and ``IsEndpoint`` take every CTC model but t_one for 4x subsampling of
  10 ms frames: its timestamps and trailing silence are half of this 8x model's (give endpoint rules 1
  and 2 half of asrt's seconds), and at an endpoint ``Reset`` starts the model's states afresh, where
  asrt's stream keeps its context.
"""
from __future__ import annotations

import itertools
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from asrt.fileio import atomic_path, read_symbol_table, scratch_path, write_text_atomic
from asrt.models import CtcModel
from asrt.models.streaming import ChunkStream, is_streaming
from asrt.models.tdnn import TdnnCtc
from asrt.names import (
    BLANK_ID, HLG_FILE, METADATA_FILE, MODEL_FILE, STREAMING_ONNX_MODEL_FILE, TOKENS_FILE, WORDS_FILE,
)
from asrt.packaged.export import (
    LOG_PROB_FLOOR, ONNX_OPSET, SHERPA_BEAM, TOLERANCE, export_source, hlg_with_blank_penalty, quiet_exporter,
    sherpa_onnx_compatibility,
)
from asrt.packaged.onnx_model import onnx_session

FRONTEND_CACHE_SHAPE = (128, 3, 19)  # zipformer2's embed_states of one stream (online-zipformer2-ctc-model.cc)
NO_FRAME_LOG_PROB = -1e4  # the non-blank log-probs of an output frame before the stream's first
SHERPA_FACTORY = "OnlineRecognizer.from_zipformer2_ctc"

_BUFFER = 4  # block_buffer_j's place among layer j's six states

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StateSpec:
    """One state tensor of the graph: its input name, shape for one stream and batch axis."""

    name: str
    shape: tuple[int, ...]
    batch_axis: int
    dtype: type = np.float32


def _layer_specs(j: int, channels: int, buffer: int) -> list[StateSpec]:
    """zipformer2's six states of layer ``j`` (``InitStates``) with ``left_context_len``, head dims and heads 1."""
    return [StateSpec(f"unused_key_{j}", (1, 1, 1), 1),
            StateSpec(f"unused_nonlin_attn_{j}", (1, 1, 1, 3 * channels // 4), 1),
            StateSpec(f"unused_val1_{j}", (1, 1, 1), 1),
            StateSpec(f"unused_val2_{j}", (1, 1, 1), 1),
            StateSpec(f"block_buffer_{j}", (1, channels, buffer), 0),
            StateSpec(f"unused_conv2_{j}", (1, channels, buffer), 0)]


class StreamingCtcGraph(nn.Module):
    """A streaming tdnn :class:`CtcModel` as one chunk's pure function: ``(x, *states)`` to
    ``(log_probs, *new_states)`` in the layout of the module docstring."""

    def __init__(self, model: CtcModel, chunk_frames: int) -> None:
        super().__init__()
        encoder = model.encoder
        if not is_streaming(model) or not isinstance(encoder, TdnnCtc) or model.utterance_mean:
            raise ValueError("only a streaming tdnn with global feature normalisation exports for sherpa-onnx's "
                             "OnlineRecognizer: train one with conf/streaming.yaml")
        if chunk_frames < 1:
            raise ValueError(f"a chunk must be at least 1 output frame, not {chunk_frames}")
        self.model, self.chunk_frames = model.eval(), chunk_frames
        self.num_features = model.feat_mean.numel()
        # A chunked tdnn's input is its chunk and the lookahead frames after it (recomputed by the next chunk);
        # a causal one's outputs lag its input by the lookahead instead, with blank rows before the first.
        self.chunked = encoder.chunked
        self.lead_rows = 0 if self.chunked else encoder.lookahead
        self.shift = encoder.subsampling_factor * chunk_frames  # feature frames a chunk advances the stream
        self.window = self.shift + (encoder.subsampling_factor * encoder.lookahead if self.chunked else 0)
        self._frontend_sizes = [c.numel() for c in encoder.subsampling.conv.init_stream()]
        if sum(self._frontend_sizes) > int(np.prod(FRONTEND_CACHE_SHAPE)):
            raise ValueError(f"the front-end's cache ({sum(self._frontend_sizes)} values) does not fit sherpa-onnx's "
                             f"zipformer2 embed_states {list(FRONTEND_CACHE_SHAPE)}: use fewer frontend_channels")
        # Block j's input lags the front-end by the lookahead of the blocks before it; the output by all.
        self._lags = list(itertools.accumulate((b.pad[1] for b in encoder.blocks), initial=0))
        # K - 1 in every block (a chunked block's left context: K // 2)
        self.buffer = encoder.blocks[0].pad[0] + (0 if self.chunked else encoder.blocks[0].pad[1])
        no_frame = torch.full((encoder.output.out_features,), NO_FRAME_LOG_PROB)
        no_frame[BLANK_ID] = 0.0
        self.register_buffer("no_frame", no_frame)

    def state_specs(self) -> list[StateSpec]:
        """The graph's state inputs, in sherpa-onnx's order."""
        channels, blocks = self.model.encoder.output.in_features, len(self.model.encoder.blocks)
        return [*(s for j in range(blocks) for s in _layer_specs(j, channels, self.buffer)),
                StateSpec("frontend_cache", (1, *FRONTEND_CACHE_SHAPE), 0),
                StateSpec("processed_frames", (1,), 0, np.int64)]

    def sherpa_metadata(self) -> dict[str, str]:
        """The metadata sherpa-onnx's zipformer2 CTC model reads: these state shapes and the chunk."""
        encoder = self.model.encoder
        return {"model_type": "zipformer2", "model_author": "asrt", "encoder_dims": str(encoder.output.in_features),
                "num_encoder_layers": str(len(encoder.blocks)), "cnn_module_kernels": str(2 * self.buffer),
                "left_context_len": "1", "query_head_dims": "1", "value_head_dims": "1", "num_heads": "1",
                "T": str(self.window), "decode_chunk_len": str(self.shift)}

    def _frontend(self, x: torch.Tensor, cache: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Front-end outputs ``[N, C, chunk_frames]`` of normalised features, and its new packed cache."""
        conv, flat = self.model.encoder.subsampling.conv, cache.reshape(cache.size(0), -1)
        caches, start = [], 0
        for like, size in zip(conv.init_stream(), self._frontend_sizes):
            caches.append(flat[:, start: start + size].reshape(-1, *like.shape[1:]))
            start += size
        y, new = conv.stream(x, caches, advance=self.shift)
        new_flat = torch.cat([c.reshape(c.size(0), -1) for c in new] + [flat[:, start:]], dim=1)
        return y.transpose(1, 2), new_flat.reshape(cache.shape)

    def forward(self, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Log-probs ``[N, chunk_frames, V]`` of the frames this chunk completes, then the new states."""
        *layers, cache, processed = states
        y, new_cache = self._frontend((x - self.model.feat_mean) / self.model.feat_std, cache)
        if self.chunked:
            return self._chunk(y, layers, new_cache, processed)
        steps = torch.arange(y.size(2), device=y.device)
        new_layers = list(layers)
        for j, block in enumerate(self.model.encoder.blocks):
            before = (processed.unsqueeze(1) + steps - self._lags[j]) < 0  # frames before the stream's first
            # With a buffer of K - 1 frames the block's stream completes as many frames as come in.
            y, new_layers[6 * j + _BUFFER] = block.stream(y.masked_fill(before.unsqueeze(1), 0.0),
                                                          layers[6 * j + _BUFFER], final=False)
        log_probs = self.model.encoder.output(y.transpose(1, 2)).log_softmax(dim=-1)
        before = (processed.unsqueeze(1) + steps - self._lags[-1]) < 0
        log_probs = torch.where(before.unsqueeze(2), self.no_frame, log_probs)
        return (log_probs, *(s.clone() for s in new_layers), new_cache, processed + y.size(2))


    def _chunk(self, y: torch.Tensor, layers: list, cache: torch.Tensor, processed: torch.Tensor) -> tuple:
        """:meth:`forward` of a chunked tdnn from its front-end outputs ``[N, C, chunk + lookahead]``: the
        chunk's blocks with their left contexts as the block buffers (zeros at the start: the left padding)."""
        encoder, k = self.model.encoder, self.chunk_frames
        lefts = [layers[6 * j + _BUFFER] for j in range(len(encoder.blocks))]
        out, lefts = encoder.chunk_step(y[:, :, :k], y[:, :, k:], lefts)
        new_layers = list(layers)
        for j, left in enumerate(lefts):
            new_layers[6 * j + _BUFFER] = left
        log_probs = encoder.output(out.transpose(1, 2)).log_softmax(dim=-1)
        return (log_probs, *(s.clone() for s in new_layers), cache, processed + k)


def export_streaming_onnx(graph: StreamingCtcGraph, path: Path) -> Path:
    """Write ``graph`` as ONNX (dynamic batch) with sherpa-onnx's metadata to ``path``."""
    import onnx

    specs = graph.state_specs()
    example_batch = 2
    x = torch.randn(example_batch, graph.window, graph.num_features)
    states = [torch.from_numpy(np.repeat(np.zeros(s.shape, s.dtype), example_batch, axis=s.batch_axis))
              for s in specs]
    batch = torch.export.Dim("batch", min=1, max=1024)
    dynamic = ({0: batch}, tuple({s.batch_axis: batch} for s in specs))  # (x, *states)
    with atomic_path(path) as tmp, quiet_exporter():
        torch.onnx.export(graph.eval(), (x, *states), str(tmp), input_names=["x", *(s.name for s in specs)],
                          output_names=["log_probs", *(f"new_{s.name}" for s in specs)], opset_version=ONNX_OPSET,
                          dynamo=True, external_data=False, verbose=False, dynamic_shapes=dynamic)
        proto = onnx.load(str(tmp))
        for key, value in graph.sherpa_metadata().items():
            proto.metadata_props.add(key=key, value=value)
        onnx.save(proto, str(tmp))
    return path


def _stack(specs: list[StateSpec], streams: list[list[np.ndarray]]) -> list[np.ndarray]:
    """The states of several streams as one batch, along each state's batch axis (sherpa-onnx's StackStates)."""
    return [np.concatenate([s[i] for s in streams], axis=spec.batch_axis) for i, spec in enumerate(specs)]


def _unstack(specs: list[StateSpec], states: list[np.ndarray]) -> list[list[np.ndarray]]:
    """A batch's states split into each stream's (sherpa-onnx's UnStackStates)."""
    n = states[-1].shape[0]
    per_state = [np.split(s, n, axis=spec.batch_axis) for spec, s in zip(specs, states)]
    return [[p[b] for p in per_state] for b in range(n)]


def stream_onnx(graph: StreamingCtcGraph, onnx_path: Path, feats: list[np.ndarray],
                starts: list[int]) -> list[np.ndarray]:
    """Run the ONNX graph over streams of raw features ``[T, F]`` (``T`` whole chunks) in one batch as
    sherpa-onnx batches them, stream ``i`` joining at step ``starts[i]``; each stream's log-probs."""
    session, specs = onnx_session(onnx_path), graph.state_specs()
    step, window = graph.shift, graph.window
    states = [[np.zeros(s.shape, s.dtype) for s in specs] for _ in feats]
    outputs: list[list[np.ndarray]] = [[] for _ in feats]
    chunks = [max(0, (len(f) - window) // step + 1) for f in feats]  # whole windows, as sherpa-onnx runs them
    last = max(start + n for n, start in zip(chunks, starts))
    for t in range(last):
        active = [i for i, (n, start) in enumerate(zip(chunks, starts)) if 0 <= t - start < n]
        x = np.stack([feats[i][(t - starts[i]) * step: (t - starts[i]) * step + window] for i in active])
        inputs = dict(zip(["x", *(s.name for s in specs)], [x, *_stack(specs, [states[i] for i in active])]))
        log_probs, *new = session.run(None, inputs)
        for i, lp, st in zip(active, log_probs, _unstack(specs, new)):
            outputs[i].append(lp)
            states[i] = st
    return [np.concatenate(o) for o in outputs]


def _log_prob_diff(ref: np.ndarray, got: np.ndarray) -> dict:
    """Largest difference above ``LOG_PROB_FLOOR`` and largest relative one (as :func:`onnx_log_prob_diff`)."""
    d = np.abs(got - ref)
    return {"max_abs_diff": float(d[ref >= LOG_PROB_FLOOR].max(initial=0.0)),
            "max_rel_diff": float((d / np.maximum(1.0, np.abs(ref))).max(initial=0.0))}


@torch.no_grad()
def check_streaming_onnx(graph: StreamingCtcGraph, onnx_path: Path, num_chunks: int = 12,
                         tolerance: float = TOLERANCE, seed: int = 0) -> dict:
    """Stream random features on the training features' scale through the ONNX graph, two streams in one
    batch a chunk apart, and through ``ChunkStream``; raise RuntimeError if a log-prob differs by more than
    ``tolerance`` (the ``lookahead`` leading frames must be the blank rows), else return the worse
    differences."""
    model, lookahead = graph.model, graph.lead_rows
    gen = torch.Generator().manual_seed(seed)
    frames = num_chunks * graph.shift + graph.window - graph.shift
    feats = [torch.randn(frames, graph.num_features, generator=gen) * model.feat_std + model.feat_mean
             for _ in range(2)]
    got = stream_onnx(graph, onnx_path, [f.numpy() for f in feats], starts=[0, 1])
    diffs = []
    for f, lp in zip(feats, got):
        ref = ChunkStream(model, graph.chunk_frames).accept(f).numpy()
        if lp.shape != (ref.shape[0] + lookahead, ref.shape[1]) or not np.array_equal(
                lp[:lookahead], np.broadcast_to(graph.no_frame.numpy(), (lookahead, ref.shape[1]))):
            raise RuntimeError(f"the streamed ONNX model gave {lp.shape[0]} frames, not {lookahead} blank ones and "
                               f"ChunkStream's {ref.shape[0]}")
        diffs.append(_log_prob_diff(ref, lp[lookahead:]))
    worst = {k: max(d[k] for d in diffs) for k in diffs[0]}
    if max(worst.values()) > tolerance:
        raise RuntimeError(f"streamed ONNX log-probs differ from ChunkStream's by more than {tolerance:g}: {worst}")
    return worst


def tail_padding_seconds(graph: StreamingCtcGraph) -> float:
    """Silence an app feeds after a stream's audio so that sherpa-onnx decodes every output frame of it: a
    chunk, the lookahead's frames and one more (``IsReady`` wants more frames than a chunk)."""
    factor = graph.model.encoder.subsampling_factor
    return round((factor * (graph.chunk_frames + graph.model.encoder.lookahead) + 1) * 0.01, 2)


def export_streaming(model_dir: Path, out_dir: Path, chunk_frames: int | None = None,
                     tolerance: float = TOLERANCE) -> dict:
    """Export a packaged streaming model (``asrt package``) for sherpa-onnx's ``OnlineRecognizer`` to
    ``out_dir``, in chunks of ``chunk_frames`` output frames (default: its ``decode.streaming``); return
    the export's metadata.

    Raises RuntimeError if the ONNX graph streamed chunk by chunk differs from ``ChunkStream`` by more
    than ``tolerance`` (:func:`check_streaming_onnx`). ``out_dir`` is complete or absent.
    """
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    metadata = export_source(model_dir, out_dir)
    # The features must be sherpa-onnx's; an acoustic scale only changes the HLG search (warned below).
    problem = sherpa_onnx_compatibility({**metadata, "decode": {**metadata["decode"], "acoustic_scale": 1.0}})
    if problem:
        raise ValueError(f"{problem}: it cannot stream in sherpa-onnx")
    chunk_frames = int(chunk_frames or metadata["decode"]["streaming"]["chunk_frames"])
    with scratch_path(out_dir, directory=True) as tmp:
        metadata = _export_streaming_into(model_dir, tmp, metadata, chunk_frames, tolerance)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    return metadata


def _export_streaming_into(model_dir: Path, tmp: Path, metadata: dict, chunk_frames: int, tolerance: float) -> dict:
    """Write every file of the streaming export of ``model_dir`` into ``tmp``; return its metadata."""
    from asrt.models.checkpoint import load_model

    model, _ = load_model(model_dir / MODEL_FILE)
    graph = StreamingCtcGraph(model, chunk_frames)
    log.info("Exporting %s to ONNX for sherpa-onnx's OnlineRecognizer (chunks of %d output frames)",
             model_dir / MODEL_FILE, chunk_frames)
    export_streaming_onnx(graph, tmp / STREAMING_ONNX_MODEL_FILE)
    diff = check_streaming_onnx(graph, tmp / STREAMING_ONNX_MODEL_FILE, tolerance=tolerance)
    log.info("Streamed ONNX log-probs differ from ChunkStream's by at most %.2e (above %g), %.2e relative",
             diff["max_abs_diff"], LOG_PROB_FLOOR, diff["max_rel_diff"])
    for name in (TOKENS_FILE, WORDS_FILE):
        shutil.copy2(model_dir / name, tmp / name)
    decode = dict(metadata["decode"])
    # asrt's search scales (log-prob - penalty) by acoustic_scale; sherpa-onnx's does neither, so HLG carries
    # the scaled penalty (asrt/packaged/export.py), and an acoustic scale other than 1 is lost (warned).
    blank_penalty = float(decode["blank_penalty"]) * float(decode["acoustic_scale"])
    hlg_with_blank_penalty(model_dir / HLG_FILE, tmp / HLG_FILE, len(read_symbol_table(model_dir / TOKENS_FILE)),
                           blank_penalty)
    problem = sherpa_onnx_compatibility(metadata)
    if problem:
        log.warning("%s: sherpa-onnx's HLG search will differ from asrt's (its greedy search will not)", problem)
    metadata = {**metadata, "backend": "sherpa-onnx-streaming", "exported_from": str(model_dir),
                "features": dict(metadata["features"]), "decode": {**decode, "blank_penalty": 0.0},
                "hlg_blank_penalty": blank_penalty, **_export_sections(graph, diff, problem, int(decode["max_active"]))}
    write_text_atomic(tmp / METADATA_FILE, json.dumps(metadata, indent=2, ensure_ascii=False) + "\n")
    return metadata


def _export_sections(graph: StreamingCtcGraph, diff: dict, problem: str | None, max_active: int) -> dict:
    """The export's ``onnx`` and ``sherpa_onnx`` sections of metadata.json: what an app needs to run it."""
    return {"onnx": {"opset": ONNX_OPSET, "file": STREAMING_ONNX_MODEL_FILE, "chunk_frames": graph.chunk_frames,
                     "lookahead": graph.model.encoder.lookahead, "states": [s.name for s in graph.state_specs()],
                     **diff, **graph.sherpa_metadata()},
            "sherpa_onnx": {"factory": SHERPA_FACTORY, "feature_dim": graph.num_features, "ctc_max_active": max_active,
                            "beam": SHERPA_BEAM, "tail_padding_seconds": tail_padding_seconds(graph),
                            "hlg_matches_asrt": problem is None, "why_not": problem}}

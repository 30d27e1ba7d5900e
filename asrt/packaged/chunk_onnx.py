"""A streaming model's chunks run by ONNX Runtime (``decode.streaming.runtime: onnxruntime``).

A chunk of a streaming model is small (320 ms: 4 output frames), so PyTorch spends most of its time on the
fixed cost of each operation: about 2.9 ms per chunk of the mini_cmn streaming tdnn on one core, where ONNX
Runtime runs the same graph in about 1.1 ms (docs/streaming.md). :class:`OnnxChunkStep` is the encoder's
``stream`` for one whole chunk in the steady state (the state shapes that every chunk after the first has),
traced to ONNX in memory when a recognizer first streams and run with any number of streams at once. The
first chunk, the last one and any chunk of other shapes still run in PyTorch; both give the same outputs
to within float rounding (tests/test_streaming.py). A conformer's first chunks, while its attention cache
fills its left context, run in PyTorch too.
"""
from __future__ import annotations

import io
import logging
import warnings
from typing import Any

import torch

from asrt.models import CtcModel
from asrt.models.streaming import first_chunk_frames, flatten_state, rebuild_state, state_shapes

log = logging.getLogger(__name__)

MAX_SETTLING_CHUNKS = 256  # chunks a state may take to reach its steady shapes (a left context of 256 chunks)


class _Chunk(torch.nn.Module):
    """``encoder.stream`` over flat state tensors, as ONNX export takes it."""

    def __init__(self, encoder: torch.nn.Module, template: Any) -> None:
        super().__init__()
        self.encoder, self.template = encoder, template

    def forward(self, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        log_probs, state = self.encoder.stream(x, rebuild_state(self.template, list(states)))
        return (log_probs, *flatten_state(state))


class OnnxChunkStep:
    """One whole chunk of ``frames`` feature frames through ``model``'s encoder in ONNX Runtime, for states
    shaped like ``template`` (batched on their first dimension)."""

    def __init__(self, model: CtcModel, frames: int, template: Any, num_threads: int) -> None:
        import onnxruntime as ort

        self.frames, self._template, self._shapes = frames, template, state_shapes(template)
        example = [torch.zeros(1, frames, model.feat_mean.numel()), *flatten_state(template)]
        names = [f"in{i}" for i in range(len(example))]
        outputs = [f"out{i}" for i in range(len(example))]
        graph = io.BytesIO()
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on Python conditions over fixed shapes
            torch.onnx.export(_Chunk(model.encoder, template).eval(), tuple(example), graph, input_names=names,
                              output_names=outputs, dynamo=False, opset_version=17,
                              dynamic_axes={n: {0: "streams"} for n in names + outputs})
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = num_threads, 1
        self._session = ort.InferenceSession(graph.getvalue(), options, providers=["CPUExecutionProvider"])
        self._names = names

    def fits(self, x: torch.Tensor, state: Any) -> bool:
        """Whether this step runs chunk ``x`` ``[N, T, F]`` from ``state``."""
        return x.size(1) == self.frames and state is not None and state_shapes(state) == self._shapes

    def __call__(self, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """The chunk's log-probs ``[N, T', V]`` and the new state, as ``encoder.stream(x, state)`` gives them."""
        inputs = [x, *flatten_state(state)]
        outs = self._session.run(None, {n: t.contiguous().numpy() for n, t in zip(self._names, inputs)})
        tensors = [torch.from_numpy(o) for o in outs]
        return tensors[0], rebuild_state(self._template, tensors[1:])


def onnx_chunk_step(model: CtcModel, frames: int, num_threads: int) -> OnnxChunkStep | None:
    """An :class:`OnnxChunkStep` for chunks of ``frames`` feature frames, or None (PyTorch streams it) when
    onnxruntime or onnx is not installed or the encoder's state changes shape from chunk to chunk."""
    try:
        import onnx  # noqa: F401 - torch's exporter needs it
        import onnxruntime  # noqa: F401
    except ImportError:
        log.warning("onnxruntime or onnx is not installed (pip install asrt[export]): streams run in PyTorch, "
                    "about 2.5x slower per chunk")
        return None
    encoder, x = model.encoder, torch.zeros(1, frames, model.feat_mean.numel())
    chunk_frames = frames // encoder.subsampling_factor
    first = torch.zeros(1, first_chunk_frames(model, chunk_frames), x.size(2))
    with torch.inference_mode():  # chunks until the state's shapes settle (a conformer's cache fills)
        _, state = encoder.stream(first, encoder.init_stream(chunk_frames))
        for _ in range(MAX_SETTLING_CHUNKS):
            _, after = encoder.stream(x, state)
            if state_shapes(after) == state_shapes(state):
                template = [t.clone() for t in flatten_state(after)]
                return OnnxChunkStep(model, frames, rebuild_state(after, template), num_threads)
            state = after
    return None

"""``export_streaming``: the streaming ONNX graph against ``ChunkStream``, and sherpa-onnx's ``OnlineRecognizer``
decoding the exported CI model (greedy, and with its HLG) to what asrt's own streaming recognition gives."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import Utterance

from asrt.fileio import read_symbol_table
from asrt.models import build_model
from asrt.names import HLG_FILE, METADATA_FILE, SAMPLE_RATE, TOKENS_FILE, WORDS_FILE
from asrt.packaged.export import TOLERANCE
from asrt.packaged.online_export import (
    StreamingCtcGraph, check_streaming_onnx, export_streaming, export_streaming_onnx,
)
from asrt.packaged.recognizer import Recognizer

PIECE_SECONDS = 0.1  # audio is fed to sherpa-onnx in pieces this long, as from a microphone

# What sherpa-onnx's OnlineZipformer2CtcModel reads from the metadata (online-zipformer2-ctc-model.cc, Init).
ZIPFORMER2_KEYS = {"encoder_dims", "query_head_dims", "value_head_dims", "num_heads", "num_encoder_layers",
                   "cnn_module_kernels", "left_context_len", "T", "decode_chunk_len"}


def streaming_tdnn(lookahead: int, chunked: bool = False):
    torch.manual_seed(0)
    model = build_model("tdnn", num_features=80, vocab_size=11, channels=32, num_layers=3, frontend="conv2d",
                        frontend_channels=4, streaming={"lookahead": lookahead, "chunked": chunked}).eval()
    model.set_normalisation(torch.randn(80), torch.rand(80) + 0.5)
    return model


@pytest.mark.parametrize("lookahead,chunk_frames,chunked", [(2, 1, False), (1, 3, False), (2, 1, True), (1, 4, True)])
def test_streamed_onnx_matches_chunk_stream(tmp_path: Path, lookahead: int, chunk_frames: int, chunked: bool):
    """Chunks shorter than the lookahead (whole chunks of leading blank rows; a chunked model's windows that
    overlap by more than their shift) and longer; two streams a chunk apart in one batch, as sherpa-onnx
    batches them (check_streaming_onnx)."""
    graph = StreamingCtcGraph(streaming_tdnn(lookahead, chunked), chunk_frames)
    path = export_streaming_onnx(graph, tmp_path / "model.onnx")
    diff = check_streaming_onnx(graph, path, num_chunks=7)
    assert diff["max_abs_diff"] < TOLERANCE and diff["max_rel_diff"] < TOLERANCE


def test_only_a_streaming_model_exports():
    model = build_model("tdnn", num_features=80, vocab_size=11, channels=32, num_layers=2, frontend="conv2d",
                        frontend_channels=4)
    with pytest.raises(ValueError, match="streaming tdnn"):
        StreamingCtcGraph(model, 4)


@pytest.fixture(scope="module")
def exported(model_dir: Path, tmp_path_factory) -> Path:
    """The CI model exported for sherpa-onnx's OnlineRecognizer, in its own chunk size."""
    out = tmp_path_factory.mktemp("export_streaming") / "online"
    export_streaming(model_dir, out)
    return out


def test_export_layout_and_metadata(exported: Path, model_dir: Path):
    import onnx

    meta = json.loads((exported / METADATA_FILE).read_text())
    for name in (meta["onnx"]["file"], TOKENS_FILE, WORDS_FILE, HLG_FILE):
        assert (exported / name).is_file(), name
    assert meta["onnx"]["max_abs_diff"] < TOLERANCE and meta["sherpa_onnx"]["hlg_matches_asrt"]
    assert meta["decode"]["blank_penalty"] == 0.0 and meta["hlg_blank_penalty"] > 0
    assert (exported / TOKENS_FILE).read_text() == (model_dir / TOKENS_FILE).read_text()
    proto = onnx.load(str(exported / meta["onnx"]["file"]))
    props = {p.key: p.value for p in proto.metadata_props}
    assert ZIPFORMER2_KEYS <= set(props)
    assert props["T"] == props["decode_chunk_len"] == str(8 * meta["onnx"]["chunk_frames"])
    assert [i.name for i in proto.graph.input] == ["x", *meta["onnx"]["states"]]
    assert len(proto.graph.output) == len(proto.graph.input)
    # sherpa-onnx reads the vocabulary size off output 0's last axis, and the frames off its second.
    shape = [d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim]
    assert shape[1:] == [meta["onnx"]["chunk_frames"], len(read_symbol_table(exported / TOKENS_FILE))]


def sherpa_online_recognizer(export_dir: Path, hlg: bool):
    """A ``sherpa_onnx.OnlineRecognizer`` for an exported directory, made as an app would from its metadata:
    greedy search, or (``hlg``) the FST search of HLG.fst."""
    import sherpa_onnx

    meta = json.loads((export_dir / METADATA_FILE).read_text())
    graph = {"ctc_graph": str(export_dir / HLG_FILE),
             "ctc_max_active": meta["sherpa_onnx"]["ctc_max_active"]} if hlg else {}
    return sherpa_onnx.OnlineRecognizer.from_zipformer2_ctc(
        tokens=str(export_dir / TOKENS_FILE), model=str(export_dir / meta["onnx"]["file"]), num_threads=1,
        sample_rate=SAMPLE_RATE, feature_dim=meta["sherpa_onnx"]["feature_dim"], **graph)


def sherpa_stream(recognizer, samples: np.ndarray, tail_seconds: float):
    """A sherpa-onnx stream fed ``samples`` piece by piece, decoded as they come, then the tail padding."""
    stream, step = recognizer.create_stream(), int(PIECE_SECONDS * SAMPLE_RATE)
    for piece in [*(samples[i: i + step] for i in range(0, len(samples), step)),
                  np.zeros(int(tail_seconds * SAMPLE_RATE), np.float32)]:
        stream.accept_waveform(SAMPLE_RATE, piece)
        while recognizer.is_ready(stream):
            recognizer.decode_stream(stream)
    stream.input_finished()
    while recognizer.is_ready(stream):
        recognizer.decode_stream(stream)
    return stream


@pytest.fixture(scope="module")
def asrt_streamed(exported: Path, model_dir: Path, utterances: list[Utterance]) -> list:
    """asrt's own streaming recognition of each utterance in the export's chunk size: its final result."""
    recognizer = Recognizer(model_dir)
    chunk_frames = json.loads((exported / METADATA_FILE).read_text())["onnx"]["chunk_frames"]
    finals = []
    for u in utterances:
        stream = recognizer.stream(chunk_frames, rules=[])
        results = stream.accept(sf.read(u.path, dtype="float32")[0]) + stream.finish()
        assert results[-1].final and results[-1].pinyin
        finals.append(results[-1])
    return finals


def tail_seconds(exported: Path) -> float:
    return json.loads((exported / METADATA_FILE).read_text())["sherpa_onnx"]["tail_padding_seconds"]


def test_sherpa_onnx_greedy_gives_asrt_streaming_pinyin(exported: Path, utterances: list[Utterance], asrt_streamed):
    recognizer = sherpa_online_recognizer(exported, hlg=False)
    for u, final in zip(utterances, asrt_streamed):
        stream = sherpa_stream(recognizer, sf.read(u.path, dtype="float32")[0], tail_seconds(exported))
        assert recognizer.get_result_all(stream).tokens == final.pinyin, u.path


def test_sherpa_onnx_hlg_gives_asrt_streaming_text(exported: Path, utterances: list[Utterance], asrt_streamed):
    """sherpa-onnx's FST search has no blank penalty: the exported HLG carries it on its blank arcs."""
    recognizer = sherpa_online_recognizer(exported, hlg=True)
    id2word = {i: w for w, i in read_symbol_table(exported / WORDS_FILE).items()}
    for u, final in zip(utterances, asrt_streamed):
        result = recognizer.get_result_all(sherpa_stream(recognizer, sf.read(u.path, dtype="float32")[0],
                                                         tail_seconds(exported)))
        # sherpa-onnx's text is the best path's tokens (tonal pinyin); the words are ids into words.txt.
        assert "".join(id2word[w] for w in result.words) == final.text, u.path
        assert result.text == "".join(result.tokens)


def test_sherpa_onnx_decodes_streams_in_a_batch(exported: Path, utterances: list[Utterance], asrt_streamed):
    """decode_streams stacks the streams' states along each state's batch axis (StackStates)."""
    recognizer = sherpa_online_recognizer(exported, hlg=False)
    streams = []
    for u in utterances:
        stream = recognizer.create_stream()
        stream.accept_waveform(SAMPLE_RATE, sf.read(u.path, dtype="float32")[0])
        stream.accept_waveform(SAMPLE_RATE, np.zeros(int(tail_seconds(exported) * SAMPLE_RATE), np.float32))
        stream.input_finished()
        streams.append(stream)
    while ready := [s for s in streams if recognizer.is_ready(s)]:
        recognizer.decode_streams(ready)
    assert [recognizer.get_result_all(s).tokens for s in streams] == [f.pinyin for f in asrt_streamed]

"""Streaming recognition: streamed features, model outputs and searches equal the whole-utterance ones, and
the endpoint rules hold on hand-made posteriors (docs/streaming.md)."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from asrt.decode.greedy import ctc_greedy
from asrt.decode.search import HlgDecoder
from asrt.decode.streaming import (
    EndpointRule, GreedyStream, HlgStream, endpoint_reached, endpoint_rules, frames_to_endpoint,
)
from asrt.features.extract import make_extractor
from asrt.features.online import OnlineFeatures, check_streamable
from asrt.models import build_model
from asrt.models.streaming import ChunkStream, accept_chunks
from asrt.packaged.chunk_onnx import onnx_chunk_step
from tests.conftest import section

SHERPA_RULES = section("decode")["streaming"]


@pytest.mark.parametrize("kind", ["fbank", "spectrogram"])
@pytest.mark.parametrize("piece", [1, 160, 333, 3200, 10 ** 6])
def test_streamed_features_equal_the_whole_utterances(kind, piece):
    extractor = make_extractor(section("features", type=kind))
    rng = np.random.default_rng(piece)
    for n in (32077, 4999, 700):
        audio = (0.1 * rng.standard_normal(n)).astype(np.float32)
        online = OnlineFeatures(extractor)
        streamed = np.concatenate([*(online.accept(audio[i:i + piece]) for i in range(0, n, piece)), online.finish()])
        whole = extractor.extract(audio, 16000)
        assert streamed.shape == whole.shape
        assert np.abs(streamed - whole).max() < 1e-4


def test_pitch_features_are_refused_for_streaming():
    with pytest.raises(ValueError, match="do not stream"):
        check_streamable(section("features", pitch=True))


def _randomised(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` in eval mode with batch-norm statistics and feature normalisation that are not the identity."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
    model.set_normalisation(torch.randn(80), torch.rand(80) + 0.5)
    return model.eval()


def _random_streaming_tdnn(lookahead: int, blocks: str = "first") -> torch.nn.Module:
    torch.manual_seed(lookahead)
    model = build_model("tdnn", 80, 40, channels=32, num_layers=4, kernel_size=5, frontend="conv2d",
                        frontend_channels=8, streaming={"lookahead": lookahead, "lookahead_blocks": blocks})
    return _randomised(model)


@pytest.mark.parametrize("lookahead,blocks", [(0, "first"), (1, "first"), (3, "first"), (1, "last"), (3, "last")])
@pytest.mark.parametrize("chunk_frames", [1, 4, 16])
def test_streamed_model_outputs_equal_the_whole_utterances(lookahead, blocks, chunk_frames):
    model = _random_streaming_tdnn(lookahead, blocks)
    assert [b.pad[1] for b in model.encoder.blocks] == ([1] * lookahead + [0] * (4 - lookahead))[:: 1 if blocks == "first" else -1]
    feats = torch.randn(237, 80)
    with torch.no_grad():
        whole, lengths = model(feats.unsqueeze(0), torch.tensor([237]))
    stream, pieces = ChunkStream(model, chunk_frames), []
    for start in range(0, 237, 13):  # pieces that do not line up with chunks
        pieces.append(stream.accept(feats[start:start + 13]))
        assert sum(len(p) for p in pieces) <= max(0, (start + 13) // 8 - lookahead)  # nothing early
    pieces.append(stream.finish())
    streamed = torch.cat(pieces)
    assert streamed.shape == whole[0, : lengths[0]].shape == (29, 40)
    assert (streamed - whole[0]).abs().max() < 1e-4


def test_streams_batched_together_equal_each_alone():
    """Streams at different points (before their first chunk, between chunks, fed pieces of different
    sizes) advanced together by accept_chunks give what each gives alone."""
    model = _random_streaming_tdnn(1)
    feats, pieces = [torch.randn(n, 80) for n in (211, 160, 97)], [16, 32, 5]
    alone, together = [ChunkStream(model, 2) for _ in feats], [ChunkStream(model, 2) for _ in feats]
    batched = 0
    for i in range(0, 43):
        news = [f[i * p:(i + 1) * p] for f, p in zip(feats, pieces)]
        expected = [a.accept(x) for a, x in zip(alone, news)]
        got = accept_chunks(together, news)
        batched += sum(len(g) > 0 for g in got) > 1
        for e, g in zip(expected, got):
            assert e.shape == g.shape and torch.allclose(e, g, atol=1e-5)
    assert batched  # some passes did run several streams at once
    for a, t in zip(alone, together):
        e, g = a.finish(), t.finish()
        assert e.shape == g.shape and torch.allclose(e, g, atol=1e-5)


def _random_chunked_tdnn(lookahead: int) -> torch.nn.Module:
    torch.manual_seed(lookahead)
    model = build_model("tdnn", 80, 40, channels=32, num_layers=4, kernel_size=5, frontend="conv2d",
                        frontend_channels=8, streaming={"lookahead": lookahead, "chunked": True})
    return _randomised(model)


@pytest.mark.parametrize("lookahead", [0, 1, 3])
@pytest.mark.parametrize("chunk_frames", [1, 4, 16])
def test_streamed_chunked_tdnn_outputs_equal_the_chunk_masked_whole_utterance(lookahead, chunk_frames):
    """A chunked tdnn streamed in chunks of C frames gives what the whole utterance gives in chunks of C
    (``forward(..., chunk_frames=C)``), each chunk as soon as its right context has come in."""
    model = _random_chunked_tdnn(lookahead)
    feats = torch.randn(237, 80)
    with torch.no_grad():
        x = (feats - model.feat_mean) / model.feat_std
        whole, lengths = model.encoder(x.unsqueeze(0), torch.tensor([237]), chunk_frames=chunk_frames)
    stream, pieces = ChunkStream(model, chunk_frames), []
    for start in range(0, 237, 13):
        pieces.append(stream.accept(feats[start:start + 13]))
        arrived = min(start + 13, 237) // 8  # output frames whose features are all in
        done = sum(len(p) for p in pieces)
        assert done == max(0, arrived - lookahead) // chunk_frames * chunk_frames  # every chunk, none early
    pieces.append(stream.finish())
    streamed = torch.cat(pieces)
    assert streamed.shape == whole[0, : lengths[0]].shape == (29, 40)
    assert (streamed - whole[0]).abs().max() < 1e-4


def test_a_chunked_tdnn_in_one_chunk_is_the_full_context_model():
    """A chunk longer than the utterance sees all of it and zeros after it: the offline (full-context)
    outputs, which dynamic chunk training also trains; a padded batch in chunks equals each utterance alone."""
    model = _random_chunked_tdnn(1)
    feats, lengths = torch.randn(2, 200, 80), torch.tensor([200, 77])
    with torch.no_grad():
        full, _ = model(feats, lengths)
        one_chunk, _ = model.encoder((feats - model.feat_mean) / model.feat_std, lengths, chunk_frames=25)
        batch, out_lengths = model.encoder((feats - model.feat_mean) / model.feat_std, lengths, chunk_frames=3)
        short, _ = model.encoder((feats[1:, :77] - model.feat_mean) / model.feat_std, lengths[1:], chunk_frames=3)
    assert (full[0] - one_chunk[0]).abs().max() < 1e-4
    assert (batch[1, : out_lengths[1]] - short[0]).abs().max() < 1e-4


def _train_steps(model: torch.nn.Module, steps: int) -> None:
    """Adam steps on a padded batch with drawn chunks; every loss and gradient must be finite."""
    feats, lengths = torch.randn(3, 160, 80), torch.tensor([160, 121, 64])
    targets, target_lengths = torch.randint(1, 40, (3, 5)), torch.tensor([5, 4, 2])
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    for _ in range(steps):
        log_probs, out_lengths = model(feats, lengths)
        loss = torch.nn.functional.ctc_loss(log_probs.transpose(0, 1), targets, out_lengths, target_lengths)
        optimizer.zero_grad()
        loss.backward()
        assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        optimizer.step()


def test_a_chunked_tdnn_learns_under_drawn_chunks():
    """Training draws a chunk per batch (full context about half of the time) and gives finite gradients."""
    _train_steps(_random_chunked_tdnn(1).train(), 4)
    with pytest.raises(ValueError, match="lookahead_blocks"):
        build_model("tdnn", 80, 40, frontend="conv2d", streaming={"lookahead": 1, "chunked": True, "lookahead_blocks": "last"})
    with pytest.raises(ValueError, match="chunked"):
        _random_streaming_tdnn(1).encoder(torch.randn(1, 64, 80), torch.tensor([64]), chunk_frames=2)


def _random_streaming_conformer(left_context: int, factor: int = 8) -> torch.nn.Module:
    torch.manual_seed(left_context)
    model = build_model("conformer", 80, 40, d_model=32, num_layers=2, num_heads=4, d_ff=64, kernel_size=5,
                        subsampling_channels=8, subsampling_factor=factor, streaming={"left_context": left_context})
    return _randomised(model)


@pytest.mark.parametrize("left_context", [0, 3, 100])
@pytest.mark.parametrize("chunk_frames", [1, 4, 16])
@pytest.mark.parametrize("factor", [4, 8])
def test_streamed_conformer_outputs_equal_the_chunk_masked_whole_utterance(left_context, chunk_frames, factor):
    """A streaming conformer streamed in chunks of C frames (its attention and convolution caches) gives
    what the whole utterance gives under the chunk mask of C, which is what dynamic chunk training trains."""
    model = _random_streaming_conformer(left_context, factor)
    feats = torch.randn(237, 80)
    with torch.no_grad():
        x = (feats - model.feat_mean) / model.feat_std
        whole, lengths = model.encoder(x.unsqueeze(0), torch.tensor([237]), chunk_frames=chunk_frames)
    stream = ChunkStream(model, chunk_frames)
    streamed = torch.cat([*(stream.accept(feats[i:i + 13]) for i in range(0, 237, 13)), stream.finish()])
    assert streamed.shape == whole[0, : lengths[0]].shape == (237 // factor, 40)
    assert (streamed - whole[0]).abs().max() < 1e-4


def test_a_padded_batch_under_a_chunk_mask_equals_each_utterance_alone():
    model = _random_streaming_conformer(3)
    feats, lengths = torch.randn(2, 200, 80), torch.tensor([200, 77])
    with torch.no_grad():
        batch, out_lengths = model.encoder(feats, lengths, chunk_frames=2)
        short, _ = model.encoder(feats[1:, :77], lengths[1:], chunk_frames=2)
    assert torch.isfinite(batch).all()
    assert (batch[1, : out_lengths[1]] - short[0]).abs().max() < 1e-4


def test_a_streaming_conformer_trains_on_chunks_of_every_size_and_on_whole_utterances():
    model = _random_streaming_conformer(3).train()
    torch.manual_seed(0)
    drawn = [model.encoder._chunk(None) for _ in range(400)]
    assert 150 < drawn.count(None) < 250  # whole utterances about half of the time
    assert set(drawn) - {None} == set(range(1, 13))  # else 1 to 12 frames of 80 ms (about 1 s)
    assert model.eval().encoder._chunk(None) is None  # decoding offline sees everything


def test_a_streaming_conformer_learns_under_chunk_masks():
    """Training steps with drawn chunks (padded batches included) give finite losses and gradients."""
    _train_steps(_random_streaming_conformer(3).train(), 6)


def test_a_conformer_that_does_not_stream_refuses_chunks():
    model = build_model("conformer", 80, 40, d_model=32, num_layers=1, num_heads=4, d_ff=64, kernel_size=5,
                        subsampling_channels=8)
    with pytest.raises(ValueError, match="does not stream"):
        ChunkStream(model, 4)
    with pytest.raises(ValueError, match="built to stream"):
        model.encoder(torch.randn(1, 64, 80), torch.tensor([64]), chunk_frames=2)
    with pytest.raises(ValueError, match="left_context"):
        build_model("conformer", 80, 40, streaming={"lookahead": 1})


@pytest.mark.parametrize("chunk_frames", [1, 4])
@pytest.mark.parametrize("kind", ["tdnn", "chunked_tdnn", "conformer"])
def test_chunks_run_by_onnx_runtime_equal_pytorch(kind, chunk_frames):
    """The ONNX Runtime step (decode.streaming.runtime: onnxruntime) runs every steady-state chunk (for the
    conformer: once its attention cache holds its left context), alone and batched, with PyTorch's outputs."""
    model = {"tdnn": lambda: _random_streaming_tdnn(1), "chunked_tdnn": lambda: _random_chunked_tdnn(1),
             "conformer": lambda: _random_streaming_conformer(3)}[kind]()
    step, ran = onnx_chunk_step(model, 8 * chunk_frames, num_threads=1), []

    class Counted:
        fits = staticmethod(step.fits)

        def __call__(self, x, state):
            ran.append(x.size(0))
            return step(x, state)

    feats = [torch.randn(n, 80) for n in (211, 160)]
    torch_streams = [ChunkStream(model, chunk_frames) for _ in feats]
    onnx_streams = [ChunkStream(model, chunk_frames, Counted()) for _ in feats]
    for i in range(0, 211, 8 * chunk_frames):
        news = [f[i:i + 8 * chunk_frames] for f in feats]
        expected = [s.accept(x) for s, x in zip(torch_streams, news)]
        for e, g in zip(expected, accept_chunks(onnx_streams, news)):
            assert e.shape == g.shape and torch.allclose(e, g, atol=1e-4)
    for t, o in zip(torch_streams, onnx_streams):
        assert torch.allclose(t.finish(), o.finish(), atol=1e-4)
    assert len(ran) >= 160 // (8 * chunk_frames) - 4 and 2 in ran  # all but the first chunks, batched too


def test_a_model_that_does_not_stream_is_refused():
    model = build_model("tdnn", 80, 40, channels=32, num_layers=2, frontend="conv2d", frontend_channels=8)
    with pytest.raises(ValueError, match="does not stream"):
        ChunkStream(model, 4)


def _posteriors(best: list[int], vocab: int = 5) -> np.ndarray:
    x = np.full((len(best), vocab), -10.0, dtype=np.float32)
    x[np.arange(len(best)), best] = 0.0
    return x


def test_endpoint_rules_on_hand_made_posteriors():
    rules = endpoint_rules(SHERPA_RULES)
    assert rules[1] == EndpointRule(True, 1.2, 0.0)
    frame = 0.08

    def first_endpoint(best: list[int]) -> int | None:
        greedy = GreedyStream()
        for t, row in enumerate(_posteriors(best)):
            greedy.accept(row[None])
            if endpoint_reached(rules, greedy, frame):
                return t + 1
        return None

    # Silence alone: rule 1 at 2.4 s (30 frames); after a token: rule 2 at 1.2 s of trailing blanks (15 frames).
    cases = {30: [0] * 40, 5 + 15: [0, 3, 3, 0, 2] + [0] * 20,
             250: [0, 1] + [2] * 300}  # a repeated non-blank token is not silence; rule 3 ends any segment at 20 s
    for expected, best in cases.items():
        assert first_endpoint(best) == expected
        # what the stream advances its searches by in one piece: up to the endpoint, from any state
        greedy = GreedyStream()
        greedy.accept(_posteriors(best[:3]))
        assert frames_to_endpoint(rules, greedy, _posteriors(best[3:]), frame) == expected - 3
        assert frames_to_endpoint([], greedy, _posteriors(best[3:]), frame) == len(best) - 3
    with pytest.raises(ValueError, match="every segment"):
        endpoint_rules({"endpoint_rules": [{"must_contain_nonsilence": False, "min_trailing_silence": 0,
                                            "min_utterance_length": 0}]})


def test_streamed_greedy_tokens_equal_offline_greedy():
    rng = np.random.default_rng(0)
    x = np.log(rng.dirichlet(np.ones(6) * 0.3, size=200)).astype(np.float32)
    greedy = GreedyStream()
    for start in range(0, 200, 7):
        greedy.accept(x[start:start + 7])
    assert greedy.tokens == ctc_greedy(x)


@pytest.fixture(scope="module")
def recognizer(model_dir):
    from asrt.packaged.recognizer import Recognizer

    return Recognizer(model_dir)


@pytest.mark.parametrize("chunk_frames", [1, 4, 16])
def test_streamed_recognition_equals_offline_on_the_ci_model(recognizer, model_dir, utterances, chunk_frames):
    """Greedy pinyin and the HLG 1-best of the CI model (a streaming tdnn), streamed in chunks of 1, 4 and 16
    output frames without endpoints, equal offline greedy and HLG decoding of the same model."""
    hlg = HlgDecoder.from_dir(model_dir, recognizer.metadata["decode"], method="hlg")
    for utt in utterances:
        samples, _ = sf.read(utt.path, dtype="float32")
        offline = recognizer.log_probs(samples)
        stream = recognizer.stream(chunk_frames, rules=[])
        stream._search = HlgStream(hlg)  # the 1-best search (the CI model packages method rescore)
        results = [r for i in range(0, len(samples), 1600) for r in stream.accept(samples[i:i + 1600])]
        results += stream.finish()
        final = [r for r in results if r.final]
        assert len(final) == 1 and all(not r.final for r in results[:-1])
        assert final[0].pinyin == recognizer.tokens.decode(ctc_greedy(offline))
        assert final[0].text == "".join(hlg.decode(offline))
        assert final[0].text, "the CI model recognises something"
        # A partial result after every piece of audio that completed a chunk
        chunks = len(samples) / 16000 / (0.08 * chunk_frames)
        assert len([r for r in results if not r.final]) >= min(chunks, len(samples) / 1600) - 3

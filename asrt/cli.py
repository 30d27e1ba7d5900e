"""``asrt <verb>``: the command line the pipeline stages (run.sh) and users call."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from asrt.config import default_section, load_config
from asrt.fileio import write_text_atomic
from asrt.names import DECODE_DIR, HLG_FILE, MATRIX_FILES, P2H_FILE, SUMMARY_FILE, manifest_path
from asrt.serving.limits import ServeLimits
from asrt.serving.server import GRPC_PORT, HTTP_PORT, PROTOCOLS


def cmd_paths(args) -> None:
    """Every name the stages pass each other, as shell assignments that run.sh evaluates."""
    from asrt.recipe import recipe_paths

    print(recipe_paths(args.corpus, args.corpus_dir, args.data_dir, args.config, args.exp_dir).shell(), end="")


def cmd_download(args) -> None:
    """Stage 0: fetch (or, for mini_cmn, synthesise) the corpus."""
    from asrt.corpora import get_corpus

    get_corpus(args.corpus).download(Path(args.corpus_dir), load_config(args.config), args.num_jobs, args.resume)


def cmd_prepare(args) -> None:
    """Stage 1: lhotse manifests."""
    from asrt.corpora import get_corpus

    get_corpus(args.corpus).prepare(Path(args.corpus_dir), Path(args.manifest_dir))


def cmd_lang(args) -> None:
    """Stage 2: labelled supervisions, tokens, lexicon, LM text, words and disambiguation symbols."""
    from asrt.corpora import corpus_splits, extra_lm_text
    from asrt.lang.prepare import label_supervisions, prepare_lang

    splits = corpus_splits(args.corpus, args.corpus_dir)
    md = Path(args.manifest_dir)
    for split in splits.all:
        label_supervisions(manifest_path(md, args.corpus, "supervisions", split),
                           manifest_path(md, args.corpus, "supervisions_labelled", split))
    config = load_config(args.config)
    prepare_lang(Path(args.lang_dir),
                 [manifest_path(md, args.corpus, "supervisions_labelled", s) for s in splits.train.values()],
                 [*extra_lm_text(args.corpus, args.corpus_dir), *map(Path, args.lm_text or [])],
                 config["lang"], config["lm"]["unit"])


def cmd_features(args) -> None:
    """Stage 3: fbank features and cuts."""
    from asrt.corpora import corpus_splits
    from asrt.features.extract import compute_features

    compute_features(Path(args.manifest_dir), args.corpus, corpus_splits(args.corpus, args.corpus_dir),
                     Path(args.out_dir), load_config(args.config)["features"], args.num_jobs, args.resume)


def cmd_lm(args) -> None:
    """Stage 4: KenLM n-grams on the LM text: the graph's, and the rescoring LM."""
    from asrt.lang.units import lm_unit_of
    from asrt.lm.ngram import build_lms

    cfg = load_config(args.config)["lm"]
    built = lm_unit_of(args.lang_dir)
    if built != cfg["unit"]:
        raise ValueError(f"{args.lang_dir} holds LM text in {built}s but the config says lm.unit: {cfg['unit']}; "
                         "redo stage 2 in another --data-dir (or delete its .done/stage2 and later markers)")
    build_lms(Path(args.lang_dir), Path(args.out), cfg)


def cmd_graph(args) -> None:
    """Stage 5: HLG.fst."""
    from asrt.lang.units import Units
    from asrt.lm.graph import compile_hlg

    lang_dir = Path(args.lang_dir)
    compile_hlg(lang_dir, Path(args.arpa), lang_dir / HLG_FILE,
                lang_dir / P2H_FILE if Units.from_dir(lang_dir).is_pinyin else None)


def cmd_train(args) -> None:
    """Stage 6: train the acoustic model afresh, or with --resume from the newest checkpoint."""
    from asrt.models.checkpoint import remove_training_files
    from asrt.train.mixing import parse_named_cuts
    from asrt.train.trainer import train

    if not args.resume:  # in every process, before any joins the others: none may resume an earlier run
        remove_training_files(Path(args.exp_dir))
    train(parse_named_cuts(args.train_cuts), [Path(p) for p in args.dev_cuts], Path(args.lang_dir),
          Path(args.exp_dir), load_config(args.config))


def cmd_decode(args) -> None:
    """Stage 7: decode (the last ``decode.avg`` epochs averaged, if set), score and add a row to RESULTS.md."""
    from asrt.decode.evaluate import evaluate
    from asrt.decode.results import append_results_rows
    from asrt.lang.units import Units
    from asrt.models.checkpoint import decoding_model

    config = load_config(args.config)
    exp_dir = Path(args.exp_dir)
    cuts = dict(zip(args.splits, map(Path, args.cuts)))
    model_path = decoding_model(exp_dir, int(config["decode"]["avg"]))
    summary = evaluate(model_path, Path(args.lang_dir), cuts, exp_dir / DECODE_DIR, config["decode"],
                       int(config["decode"]["num_threads"]), args.rescore_lm)
    write_text_atomic(exp_dir / DECODE_DIR / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    if args.results:
        config_name = Path(args.config).name if args.config else "default"  # RESULTS.md names the file
        model_label = Units.from_dir(args.lang_dir).model_label(config["model"]["name"])
        for row in append_results_rows(Path(args.results), config_name, model_label, summary, args.resume):
            logging.info("Added to %s: %s", args.results, row.strip())


def cmd_package(args) -> None:
    """Stage 8: self-contained model directory."""
    from asrt.models.checkpoint import decoding_model
    from asrt.packaged.package import package_model

    exp_dir = Path(args.exp_dir)
    config = load_config(args.config)
    summary_path = exp_dir / DECODE_DIR / SUMMARY_FILE
    results = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    model_path = decoding_model(exp_dir, int(config["decode"]["avg"]))
    out = package_model(model_path, Path(args.lang_dir), Path(args.out), config, results, args.rescore_lm)
    logging.info("Packaged model in %s", out)


def cmd_compare(args) -> None:
    """Decode every test set with every model; PER and CER matrix as Markdown, JSON and a heatmap PNG."""
    from asrt.packaged.compare import compare, parse_labelled

    models = [parse_labelled(s, "--model") for s in args.model]
    tests = [parse_labelled(s, "--test") for s in args.test]
    compare(models, tests, Path(args.out_dir), args.num_threads)
    print((Path(args.out_dir) / MATRIX_FILES[0]).read_text(), end="")


def cmd_recognize(args) -> int:
    """Recognise audio files; one JSON object per line; exit 1 if any file failed."""
    from asrt.audio import AudioError, load_audio
    from asrt.packaged.recognizer import Recognizer

    recognizer = Recognizer(args.model_dir, device=args.device, backend=args.backend)
    failed = 0
    for path in args.files:
        try:
            samples = load_audio(path)
        except AudioError as e:
            print(f"asrt recognize: error: {e}", file=sys.stderr)
            failed += 1
            continue
        if args.streaming:
            print(json.dumps({"file": path, **_recognize_streaming(recognizer, samples, args.chunk_frames)},
                             ensure_ascii=False), flush=True)
            continue
        r = recognizer.recognize(samples)
        print(json.dumps({"file": path, "pinyin": r.pinyin, "text": r.text, "duration": round(r.duration, 3)},
                         ensure_ascii=False), flush=True)
    return 1 if failed else 0


MICROPHONE_SECONDS = 0.1  # asrt recognize --streaming feeds the audio in pieces this long, as a microphone would


def _recognize_streaming(recognizer, samples, chunk_frames: int | None) -> dict:
    """Stream ``samples`` through ``recognizer`` in microphone-sized pieces, partial results on stderr;
    the committed segments and their joined text and pinyin."""
    from asrt.names import SAMPLE_RATE

    stream, segments = recognizer.stream(chunk_frames), []
    step = int(MICROPHONE_SECONDS * SAMPLE_RATE)
    pieces = [samples[i: i + step] for i in range(0, len(samples), step)]
    for results in [*(stream.accept(p) for p in pieces), stream.finish()]:
        for r in results:
            if r.final:
                segments.append({"start": round(r.start, 3), "end": round(r.end, 3), "text": r.text, "pinyin": r.pinyin})
            print(f"{'final' if r.final else 'partial'} {r.start:.2f}-{r.end:.2f} s: {r.text}", file=sys.stderr)
    return {"pinyin": [p for s in segments for p in s["pinyin"]], "text": "".join(s["text"] for s in segments),
            "duration": round(len(samples) / SAMPLE_RATE, 3), "segments": segments}


def cmd_export(args) -> None:
    """ONNX model, tokens.txt and HLG.fst for sherpa-onnx (and asrt recognize --backend onnx); with
    ``--streaming``, the streaming model for sherpa-onnx's OnlineRecognizer."""
    if args.streaming:
        from asrt.packaged.online_export import export_streaming

        metadata = export_streaming(Path(args.model_dir), Path(args.out), args.chunk_frames, args.tolerance)
        logging.info("Exported to %s for sherpa-onnx's %s (streamed log-probs within %.1e of ChunkStream's; "
                     "feed %.2f s of silence before input_finished)", args.out, metadata["sherpa_onnx"]["factory"],
                     metadata["onnx"]["max_abs_diff"], metadata["sherpa_onnx"]["tail_padding_seconds"])
        return
    from asrt.packaged.export import export_model

    metadata = export_model(Path(args.model_dir), Path(args.out), args.tolerance)
    logging.info("Exported to %s (ONNX log-probs within %.1e of PyTorch's; sherpa-onnx: %s)", args.out,
                 metadata["onnx"]["max_abs_diff"], metadata["sherpa_onnx"]["why_not"] or "compatible")


def cmd_p2h(args) -> None:
    """Characters for tonal pinyin (arguments, or one sentence per line of --input or stdin), or --eval."""
    from asrt.decode.p2h import evaluate_p2h, read_eval_tsv
    from asrt.decode.search import PinyinDecoder
    from asrt.packaged.package import decode_section

    decoder = PinyinDecoder.from_dir(args.model_dir, decode_section(args.model_dir, args.config), args.rescore_lm)
    if args.eval:
        result = evaluate_p2h(decoder.pinyin_to_text, read_eval_tsv(args.eval))
        print(f"{args.eval}: {result['sentences']} sentences, CER {result['cer']:.2f}, sentence accuracy "
              f"{result['sentence_accuracy']:.1f} %, {result['ms_per_sentence']:.2f} ms per sentence")
    elif args.pinyin:
        print(decoder.pinyin_to_text(args.pinyin))
    else:
        with open(args.input, encoding="utf-8") if args.input else sys.stdin as lines:
            for line in lines:
                print(decoder.pinyin_to_text(line.split()), flush=True)


def cmd_serve(args) -> None:
    """Serve a packaged model over ASRT's HTTP and/or gRPC protocols until SIGTERM."""
    from asrt.serving.server import serve

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    limits = ServeLimits.from_config(load_config(args.config)["serve"],
                                     **{name: getattr(args, name) for name, _, _ in ServeLimits.options()})
    serve(args.model_dir, limits, tuple(args.protocol), args.host, args.http_port, args.grpc_port, args.workers)


def cmd_client(args) -> int:
    """Recognise audio files with a running server; one JSON object per line (per answer with --stream)."""
    from asrt.audio import AudioError, load_audio
    from asrt.serving.client import GrpcClient, HttpClient, Pcm, ServiceError

    if args.protocol == "http":
        client = HttpClient(args.host, args.port or HTTP_PORT)
    else:
        client = GrpcClient(args.host, args.port or GRPC_PORT)
    failed = 0
    for path in args.files:
        try:
            pcm = Pcm.from_float(load_audio(path))
            if args.stream:
                for code, text, message in client.stream(pcm.chunks(args.chunk_seconds)):
                    print(json.dumps({"file": path, "status_code": code, "text": text, "status_message": message},
                                     ensure_ascii=False), flush=True)
                continue
            key, result = ("pinyin", client.speech(pcm)) if args.level == "speech" else ("text", client.all(pcm))
            print(json.dumps({"file": path, key: result}, ensure_ascii=False), flush=True)
        except (AudioError, ServiceError) as e:
            print(f"asrt client: error: {e}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every verb."""
    p = argparse.ArgumentParser(prog="asrt", description=__doc__)
    p.add_argument("--log-level", default="INFO")
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    _add_stage_verbs(sub)
    _add_model_verbs(sub)
    _add_service_verbs(sub)
    return p


def _verb(sub, name: str, func, help_text: str, extra: str | None = None) -> argparse.ArgumentParser:
    """A subcommand ``name`` that runs ``func(args)``; ``extra`` names the optional dependencies it needs
    (an extra of the asrt-toolkit distribution: train, serve or export)."""
    sp = sub.add_parser(name, help=help_text, description=help_text)
    sp.set_defaults(func=func, extra=extra)
    return sp


def _common(sp: argparse.ArgumentParser, corpus: bool = True, config: bool = True, jobs: bool = False) -> None:
    """The options most stage verbs share."""
    if corpus:
        sp.add_argument("--corpus", required=True, help="corpus name, e.g. mini_cmn")
    if config:
        sp.add_argument("--config", help="recipe YAML overriding the default configuration")
    if jobs:
        sp.add_argument("--num-jobs", type=int, default=2)


def _add_stage_verbs(sub) -> None:
    """The verbs of the pipeline's stages 0-8 (run.sh), and ``paths``, which names their files."""
    sp = _verb(sub, "paths", cmd_paths, "print the names of a recipe's files as shell assignments (for run.sh)")
    _common(sp)
    sp.add_argument("--corpus-dir", help="needed by a corpus whose splits depend on it (multi_cn)")
    sp.add_argument("--data-dir", required=True)
    sp.add_argument("--exp-dir", help="default: exp/<config name>")
    sp = _verb(sub, "download", cmd_download, "stage 0: download or synthesise a corpus")
    _common(sp, jobs=True)
    sp.add_argument("--corpus-dir", required=True)
    sp = _verb(sub, "prepare", cmd_prepare, "stage 1: write lhotse manifests")
    _common(sp, config=False)
    sp.add_argument("--corpus-dir", required=True)
    sp.add_argument("--manifest-dir", required=True)
    sp = _verb(sub, "lang", cmd_lang, "stage 2: labels, tokens, lexicon, LM text (of the config's lang.units)")
    _common(sp)
    sp.add_argument("--corpus-dir")
    sp.add_argument("--manifest-dir", required=True)
    sp.add_argument("--lang-dir", required=True)
    sp.add_argument("--lm-text", nargs="+", metavar="FILE", help="more LM text (one sentence per line) beside the "
                    "training transcripts and the corpus's own extra text")
    sp = _verb(sub, "features", cmd_features, "stage 3: fbank features")
    _common(sp, jobs=True)
    sp.add_argument("--corpus-dir", help="needed by a corpus whose splits depend on it (multi_cn)")
    sp.add_argument("--manifest-dir", required=True)
    sp.add_argument("--out-dir", required=True)
    sp = _verb(sub, "lm", cmd_lm, "stage 4: n-gram LM with KenLM")
    _common(sp, corpus=False)
    sp.add_argument("--lang-dir", required=True)
    sp.add_argument("--out", required=True, help="ARPA file to write")
    sp = _verb(sub, "graph", cmd_graph, "stage 5: compile HLG.fst")
    sp.add_argument("--lang-dir", required=True)
    sp.add_argument("--arpa", required=True)
    sp = _verb(sub, "train", cmd_train, "stage 6: train a CTC acoustic model", extra="train")
    _common(sp, corpus=False)
    sp.add_argument("--train-cuts", nargs="+", required=True, metavar="[NAME=]CUTS",
                    help="training cuts; several are mixed with train.mux_weights, keyed by NAME")
    sp.add_argument("--dev-cuts", nargs="+", required=True, help="validation cuts (several are used together)")
    for name in ("--lang-dir", "--exp-dir"):
        sp.add_argument(name, required=True)
    sp = _verb(sub, "decode", cmd_decode, "stage 7: decode and score")
    _common(sp, corpus=False)
    sp.add_argument("--exp-dir", required=True)
    sp.add_argument("--lang-dir", required=True)
    sp.add_argument("--splits", nargs="+", required=True)
    sp.add_argument("--cuts", nargs="+", required=True, help="one cuts manifest per split")
    sp.add_argument("--results", help="RESULTS.md to add a row to")
    sp.add_argument("--rescore-lm", type=Path, help="stage 4's lm_rescore.bin (decode.method: rescore)")
    sp = _verb(sub, "package", cmd_package, "stage 8: package a model directory")
    _common(sp, corpus=False)
    sp.add_argument("--exp-dir", required=True)
    sp.add_argument("--lang-dir", required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument("--rescore-lm", type=Path, help="stage 4's lm_rescore.bin (packaged with decode.method: rescore)")
    for stage in ("download", "prepare", "lang", "features", "lm", "graph", "train", "decode", "package"):
        sub.choices[stage].add_argument(
            "--resume", action="store_true", help="keep what an interrupted run of this stage finished (run.sh "
            "passes it while the stage's .done/stage<N>.started is there); without it the stage is done afresh")


def _add_model_verbs(sub) -> None:
    """The verbs that use packaged models: compare, recognize, export."""
    sp = _verb(sub, "compare", cmd_compare, "decode every corpus's test set with every model: PER/CER matrix and heatmap",
               extra="train")
    sp.add_argument("--model", action="append", required=True, metavar="CORPUS=DIR",
                    help="a packaged model (stage 8) and the corpus it was trained on; repeat for each row")
    sp.add_argument("--test", action="append", required=True, metavar="CORPUS=CUTS",
                    help="a test cut set with features (stage 3) and its corpus; repeat for each column")
    sp.add_argument("--out-dir", required=True, help="where matrix.{md,json,png} and per-pair results go")
    sp.add_argument("--num-threads", type=int, default=1, help="torch threads for the acoustic model")
    sp = _verb(sub, "recognize", cmd_recognize, "recognise audio files (WAV/FLAC) with a packaged model")
    sp.add_argument("--model-dir", required=True)
    sp.add_argument("--device", default="cpu")
    sp.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                    help="onnx: model.onnx of an `asrt export` directory, run with onnxruntime")
    sp.add_argument("--streaming", action="store_true", help="recognise as the audio arrives (a streaming model): "
                    "partial results on stderr, committed segments in the JSON")
    sp.add_argument("--chunk-frames", type=int, default=None,
                    help="with --streaming: model output frames per chunk (default: decode.streaming.chunk_frames)")
    sp.add_argument("files", nargs="+")
    sp = _verb(sub, "export", cmd_export, "export a packaged model to ONNX with tokens.txt and HLG.fst for sherpa-onnx",
               extra="export")
    sp.add_argument("--model-dir", required=True, help="a packaged model directory (stage 8)")
    sp.add_argument("--out", required=True, help="directory to write")
    sp.add_argument("--tolerance", type=float, default=1e-4,
                    help="largest accepted difference between ONNX and PyTorch log-probs")
    sp.add_argument("--streaming", action="store_true", help="a streaming model for sherpa-onnx's OnlineRecognizer "
                    "(zipformer2_ctc layout, asrt/packaged/online_export.py, docs/streaming.md)")
    sp.add_argument("--chunk-frames", type=int, default=None,
                    help="with --streaming: model output frames per chunk (default: decode.streaming.chunk_frames)")


def _add_service_verbs(sub) -> None:
    """The serving verbs and pinyin-to-text."""
    sp = _verb(sub, "serve", cmd_serve, "serve a packaged model over ASRT's HTTP and gRPC protocols", extra="serve")
    sp.add_argument("--model-dir", required=True)
    sp.add_argument("--protocol", nargs="+", choices=PROTOCOLS, default=list(PROTOCOLS),
                    help="which servers to start (default: both)")
    sp.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")
    sp.add_argument("--http-port", type=int, default=HTTP_PORT)
    sp.add_argument("--grpc-port", type=int, default=GRPC_PORT)
    sp.add_argument("--workers", type=int, default=None,
                    help="requests recognised at once (default: one per usable core)")
    sp.add_argument("--config", help="YAML whose serve section overrides the limits of asrt/conf/serve.yaml")
    defaults = default_section("serve")  # every verb builds this parser: read one file, not the whole config
    for name, kind, help_text in ServeLimits.options():
        sp.add_argument("--" + name.replace("_", "-"), type=kind,
                        help=f"{help_text} (default: {defaults[name]}, from asrt/conf/serve.yaml)")
    sp = _verb(sub, "client", cmd_client, "recognise audio files (WAV/FLAC) with a running asrt or ASRT server",
               extra="serve")
    sp.add_argument("--protocol", choices=PROTOCOLS, default="http")
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=int, default=None, help=f"default: {HTTP_PORT} (http) or {GRPC_PORT} (grpc)")
    sp.add_argument("--level", choices=("all", "speech"), default="all",
                    help="all: characters; speech: tonal pinyin")
    sp.add_argument("--stream", action="store_true", help="stream the audio in chunks (gRPC Stream, or the WebSocket "
                    "/v1/stream with --protocol http); print every answer")
    sp.add_argument("--chunk-seconds", type=float, default=1.0, help="chunk length with --stream")
    sp.add_argument("files", nargs="+")
    sp = _verb(sub, "p2h", cmd_p2h, "convert tonal pinyin (e.g. ni3 hao3) to characters, or evaluate it (--eval)")
    sp.add_argument("--model-dir", required=True, help="a packaged model, or a lang directory after stage 5")
    sp.add_argument("--config", help="recipe YAML whose decode section to use (default: the model's metadata)")
    sp.add_argument("--rescore-lm", type=Path, help="the rescoring LM for decode.method rescore (default: "
                    "the directory's lm_rescore.bin)")
    sp.add_argument("--input", help="pinyin sentences, one per line (default: stdin)")
    sp.add_argument("--eval", metavar="TSV", help="ID<TAB>CHARACTERS<TAB>PINYIN lines: print CER, sentence "
                    "accuracy and milliseconds per sentence")
    sp.add_argument("pinyin", nargs="*", help="one sentence's syllables (else --input or stdin)")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``asrt`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args) or 0
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        # Errors a user can cause end in one sentence; programming errors still raise elsewhere.
        print(f"asrt {args.verb}: error: {e}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as e:
        needs = args.extra or ("export" if getattr(args, "backend", None) == "onnx" else None)
        if needs is None:
            raise
        print(f"asrt {args.verb}: error: {e.name} is not installed; install this verb's dependencies with "
              f"pip install 'asrt-toolkit[{needs}]'", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""asrt: Mandarin speech recognition recipes (tonal-pinyin CTC + WFST decoding)."""
from setuptools import find_packages, setup

setup(
    name="asrt",
    version="0.1.0",
    description="Kaldi-style Mandarin ASR recipes: lhotse features, CTC acoustic models, "
    "KenLM + kaldifst HLG decoding, ASRT-compatible serving.",
    packages=find_packages(include=["asrt", "asrt.*"]),
    package_data={"asrt.serving": ["asrt.proto"]},
    python_requires=">=3.10",
    # torch is pinned: an unpinned torch pulls several GB of CUDA wheels.
    install_requires=[
        "torch==2.13.0",
        "lhotse==1.33.0",
        "lilcom==1.8.2",
        "urllib3",  # lhotse 1.33 imports it without declaring it
        "kaldifst==1.8.3",
        "kaldilm==1.15.5",
        "kaldi-decoder==0.3.2",
        "kenlm==0.3.0",
        "pypinyin==0.55.0",
        "pypinyin-dict==0.9.0",
        "sentencepiece==0.2.3",  # lang.units: bpe (no dependencies of its own)
        "soundfile",
        "scipy",
        "numpy",
        "pyyaml",
        "tqdm",
        "tensorboard",
        "matplotlib==3.11.2",  # asrt compare: heatmap PNG (Agg backend)
        # asrt serve / asrt client
        "fastapi==0.165.0",
        "pydantic==2.14.4",
        "uvicorn==0.54.0",
        "python-multipart==0.0.34",  # FastAPI's file uploads (/v1/recognize)
        "grpcio==1.85.1",
        "grpcio-tools==1.85.1",  # compiles asrt/serving/asrt.proto at import
        # asrt export / asrt recognize --backend onnx (torch's dynamo ONNX exporter needs onnxscript)
        "onnx==1.23.2",
        "onnxscript==0.7.2",
        "onnxruntime==1.32.0",
    ],
    # sherpa-onnx: the test that the exported model decodes the same in k2's deployment runtime
    extras_require={"test": ["pytest", "sherpa-onnx==2.0.1"]},
    entry_points={"console_scripts": ["asrt=asrt.cli:main"]},
)

# CPU inference image: `asrt serve` on a packaged model directory (the output of `asrt package`,
# stage 8) mounted at /model; ASRT's HTTP API on port 20001 and its gRPC API on port 20002.
#
#   docker build -t asrt .
#   docker run --rm -p 20001:20001 -p 20002:20002 \
#       -v "$PWD/egs/mini_cmn/exp/default/model:/model:ro" asrt [--workers 4 ...]
#
# Arguments after the image name are added to `asrt serve --model-dir /model`.

FROM python:3.11-slim AS build
# kenlm (an install requirement) is compiled from its sdist.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential zlib1g-dev libbz2-dev liblzma-dev \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/asrt
ENV PATH=/opt/asrt/bin:$PATH
# torch first, from PyTorch's CPU-only index: resolved through install_requires alone, pip would
# fetch the CUDA build (several GB).
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY setup.py /src/setup.py
COPY asrt /src/asrt
RUN pip install --no-cache-dir /src

FROM python:3.11-slim
COPY --from=build /opt/asrt /opt/asrt
ENV PATH=/opt/asrt/bin:$PATH
RUN useradd --system --no-create-home asrt
USER asrt
EXPOSE 20001 20002
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:20001/health', timeout=5)"]
# Exec form: asrt is PID 1 and gets `docker stop`'s SIGTERM (in-flight requests finish, then it exits).
ENTRYPOINT ["asrt", "serve", "--model-dir", "/model"]

# CPU inference image: `asrt serve` on a packaged model directory (the output of `asrt package`,
# stage 8) mounted at /model; ASRT's HTTP API on port 20001 and its gRPC API on port 20002.
#
#   docker build -t asrt .
#   docker run --rm -p 20001:20001 -p 20002:20002 \
#       -v "$PWD/egs/mini_cmn/exp/default/model:/model:ro" asrt [--workers 4 ...]
#
# Arguments after the image name are added to `asrt serve --model-dir /model`.

FROM python:3.11-slim AS build
RUN python -m venv /opt/asrt
ENV PATH=/opt/asrt/bin:$PATH
# torch first, from PyTorch's CPU-only index: resolved through the package's dependencies alone, pip
# would fetch the CUDA build (several GB).
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
# The package and the serve extra only (no training, export or test dependencies); every dependency
# is a binary wheel, so no compiler is needed. README.md and LICENSE are part of the package metadata.
COPY pyproject.toml README.md LICENSE /src/
COPY asrt /src/asrt
RUN pip install --no-cache-dir "/src[serve]"

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

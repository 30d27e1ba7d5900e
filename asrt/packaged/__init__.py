"""Stage 8 and after: a packaged model, its recogniser, ONNX export and cross-corpus comparison."""

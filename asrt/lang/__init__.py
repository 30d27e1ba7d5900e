"""Stage 2: output units, tokens, lexicons and the LM text of a lang directory."""

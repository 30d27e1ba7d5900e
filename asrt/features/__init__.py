"""Stage 3: features (fbank, ASRT spectrogram, pitch) computed and stored for cut sets."""

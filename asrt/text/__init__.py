"""Chinese text: pinyin readings, transcript normalisation, word segmentation (shared by every stage)."""

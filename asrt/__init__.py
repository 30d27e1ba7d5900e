"""asrt: Mandarin speech recognition with tonal-pinyin CTC acoustic models and WFST decoding."""

__version__ = "0.1.0"

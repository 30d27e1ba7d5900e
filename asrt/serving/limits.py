"""What one client may ask of ``asrt serve``: the ``serve`` section of the configuration
(``asrt/conf/serve.yaml``), overridden by ``asrt serve``'s options, and the checks that refuse a request
over a limit before any recognition work starts."""
from __future__ import annotations

import io
from dataclasses import dataclass, field, fields
from typing import get_type_hints

from asrt.serving.protocol import RequestError


class LimitExceeded(RequestError):
    """A request is over one of the server's limits; the message names the limit and what to do."""


@dataclass(frozen=True)
class ServeLimits:
    """The limits of ``asrt/conf/serve.yaml`` (their values are there), each also an option of ``asrt serve``
    (:meth:`options`)."""

    max_syllables: int = field(metadata={"help": "most pinyin syllables per /language request"})
    max_audio_seconds: float = field(metadata={"help": "longest audio per request or gRPC Stream, in seconds"})
    max_body_mb: float = field(metadata={"help": "largest HTTP request body or gRPC message, in MiB"})
    request_seconds: float = field(metadata={"help": "seconds a request may wait and run before it fails"})
    max_streams: int = field(metadata={"help": "streams (gRPC Stream and WebSocket) open at once"})
    stream_idle_seconds: float = field(metadata={"help": "seconds a gRPC Stream may send nothing before it is closed"})
    header_seconds: float = field(metadata={"help": "seconds for an HTTP request's headers to arrive"})
    body_seconds: float = field(metadata={"help": "seconds for an HTTP request's body to arrive after its headers"})

    @classmethod
    def options(cls) -> list[tuple[str, type, str]]:
        """(name, type, help) of every limit, for the command line."""
        types = get_type_hints(cls)
        return [(f.name, types[f.name], f.metadata["help"]) for f in fields(cls)]

    @classmethod
    def from_config(cls, section: dict, **overrides: float | None) -> "ServeLimits":
        """The ``serve`` section with the options given (not None) in ``overrides``; every value must be
        positive."""
        values = {**section, **{k: v for k, v in overrides.items() if v is not None}}
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown serve limit(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        missing = sorted(names - set(values))
        if missing:
            raise ValueError(f"serve limit(s) {', '.join(missing)} not set")
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"serve limit {name} must be a positive number, got {value!r}")
        return cls(**values)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * (1 << 20))

    def deadline_message(self) -> str:
        """What a client whose request ran past ``request_seconds`` is told."""
        return (f"Recognition did not finish within this server's limit of {self.request_seconds:g} s per "
                "request; send shorter audio, or try again when the server is less busy.")

    def check_syllables(self, count: int) -> None:
        """Refuse a pinyin sequence longer than ``max_syllables``."""
        if count > self.max_syllables:
            raise LimitExceeded(f"{count} pinyin syllables are more than this server's limit of "
                                f"{self.max_syllables} per request; send the text in shorter pieces.")

    def check_audio_seconds(self, seconds: float) -> None:
        """Refuse audio longer than ``max_audio_seconds``."""
        if seconds > self.max_audio_seconds:
            raise LimitExceeded(f"{seconds:.1f} s of audio is more than this server's limit of "
                                f"{self.max_audio_seconds:g} s per request; send shorter audio.")

    def check_pcm(self, num_bytes: int, sample_rate: int, channels: int, byte_width: int) -> float:
        """Refuse raw PCM longer than ``max_audio_seconds``; return its seconds (0 for malformed values,
        left to the decoder, whose messages say what is wrong with them)."""
        if not all(isinstance(v, int) and v > 0 for v in (sample_rate, channels, byte_width)):
            return 0.0
        seconds = num_bytes // (channels * byte_width) / sample_rate
        self.check_audio_seconds(seconds)
        return seconds

    def check_file(self, data: bytes) -> float:
        """Refuse a WAV/FLAC file longer than ``max_audio_seconds``, read from its header; return its
        seconds (0 for what is not audio: the decoder says so)."""
        import soundfile as sf

        try:
            info = sf.info(io.BytesIO(data))
        except (sf.SoundFileError, RuntimeError, OSError):
            return 0.0
        seconds = info.frames / info.samplerate if info.samplerate > 0 else 0.0
        self.check_audio_seconds(seconds)
        return seconds

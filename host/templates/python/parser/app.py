"""{{name}} — a ferry parser written in Python.

The worked example: plain UTF-8 text, one record `{"line_no": N, "text": ...}`
per non-empty line (`line_no` is the 1-based physical line, so blank lines
are counted but produce nothing). A NUL byte or invalid UTF-8 makes the file
malformed: ferry quarantines that file, with the line, and migrates the rest.

Configuration (every key optional): `{"max_line_bytes": 1048576}`.

ferry streams the file in chunks (64 KiB each) to the session `open`
returns; a chunk may end anywhere — inside a line, inside a character — so
the session keeps the unfinished tail until the next chunk. Simpler, for
small files: drop `open` and `LineSession` and write
`def parse(self, data, file, config)` returning the records; the SDK then
holds the whole file in memory (see the SDK's README).
"""

from dataclasses import dataclass, field

import ferry_plugin as ferry

#: Longest line accepted, in bytes: 1 MiB. The session holds one unfinished
#: line between chunks, so this bounds its memory; a longer "line" usually
#: means a binary file sent to the wrong parser. `max_line_bytes` may lower it.
MAX_LINE_BYTES = 1 << 20


@dataclass
class Config:
    max_line_bytes: int = field(default=MAX_LINE_BYTES, metadata={
        "doc": f"longest accepted line in bytes, 1 to {MAX_LINE_BYTES}; a longer line makes the file malformed"})

    def __post_init__(self):
        if not 1 <= self.max_line_bytes <= MAX_LINE_BYTES:
            raise ferry.InvalidConfig(
                f"max_line_bytes is {self.max_line_bytes}; it must be between 1 and {MAX_LINE_BYTES}")


class LineSession:
    """One file being split into lines."""

    def __init__(self, file, config):
        self.file = file
        self.max = config.max_line_bytes
        self.pending = bytearray()  # the current, unfinished line
        self.line_no = 0  # lines completed so far
        self.offset = 0  # byte offset in the file of `pending[0]`

    def feed(self, chunk):
        lines = chunk.split(b"\n")
        tail = lines.pop()  # after the last newline: it waits for the next chunk
        records = []
        if lines:
            lines[0] = bytes(self.pending) + lines[0]  # the line the last chunk began
            self.pending = bytearray()
            for raw in lines:
                self._check_length(raw)
                record = self._line(raw)
                self.offset += len(raw) + 1
                if record:
                    records.append(record)
        self.pending += tail
        self._check_length(self.pending)
        return records

    def finish(self):
        if not self.pending:
            return []
        record = self._line(bytes(self.pending))
        return [record] if record else []

    def _check_length(self, raw):
        # `\r` before `\n` is part of the terminator, so allow one more byte.
        if len(raw) > self.max + 1:
            raise ferry.MalformedInput(
                f"line {self.line_no + 1} of {self.file.name} is longer than {self.max} bytes "
                "(max_line_bytes); is this a text file?",
                line=self.line_no + 1, byte_offset=self.offset)

    def _line(self, raw):
        """The record of one complete line (terminator removed), or None."""
        self.line_no += 1
        at = self.offset  # of raw[0] in the file
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if self.line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark
            raw, at = raw[3:], at + 3
        nul = raw.find(b"\x00")
        if nul >= 0:
            raise ferry.MalformedInput(
                f"line {self.line_no} of {self.file.name} holds a NUL byte; this parser reads text only",
                line=self.line_no, byte_offset=at + nul)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ferry.MalformedInput(
                f"line {self.line_no} of {self.file.name} is not UTF-8 (byte {e.start} of the line)",
                line=self.line_no, byte_offset=at + e.start) from None
        if not text.strip():
            return None
        return {"line_no": self.line_no, "text": text}


class Lines(ferry.Parser):
    name = "{{name}}"
    version = "0.1.0"
    description = "Plain UTF-8 text: one record {line_no, text} per non-empty line."
    Config = Config

    def open(self, file, config):
        return LineSession(file, config)


# The class componentize-py wires to the `parse` export.
Parse = ferry.export_parser(Lines)

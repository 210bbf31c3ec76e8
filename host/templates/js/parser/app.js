// {{name}} — a ferry parser written in JavaScript.
//
// The worked example: plain UTF-8 text, one record {line_no, text} per
// non-empty line (`line_no` is the 1-based physical line, so blank lines are
// counted but produce nothing). A NUL byte or invalid UTF-8 makes the file
// malformed: ferry quarantines that file, with the line, and migrates the rest.
//
// Configuration (every key optional): {"max_line_bytes": 1048576}.
//
// ferry streams the file in chunks (64 KiB each) to the session `open`
// returns; a chunk may end anywhere — inside a line, inside a character —
// so the session keeps the unfinished tail until the next chunk.

import * as ferry from "#ferry";

// Longest line accepted, in bytes: 1 MiB. The session holds one unfinished
// line between chunks, so this bounds its memory; a longer "line" usually
// means a binary file sent to the wrong parser. `max_line_bytes` may lower it.
const MAX_LINE_BYTES = 1 << 20;

class LineSession {
  constructor(file, config) {
    this.file = file;
    this.max = config.max_line_bytes;
    this.pending = [];   // byte arrays of the current, unfinished line
    this.pendingLen = 0;
    this.lineNo = 0;     // lines completed so far
    this.offset = 0;     // byte offset in the file of the pending line's start
  }

  feed(chunk) {
    const records = [];
    let start = 0;
    for (;;) {
      const end = chunk.indexOf(0x0a, start);
      if (end < 0) break;
      this.push(chunk.subarray(start, end));
      records.push(...this.line(this.take()));
      this.offset += 1; // the \n
      start = end + 1;
    }
    this.push(chunk.subarray(start));
    return records;
  }

  finish() {
    return this.pendingLen === 0 ? [] : this.line(this.take());
  }

  push(bytes) {
    this.pending.push(bytes.slice());
    this.pendingLen += bytes.length;
    // `\r` before `\n` is part of the terminator, so allow one more byte.
    if (this.pendingLen > this.max + 1) {
      throw new ferry.MalformedInput(
        `line ${this.lineNo + 1} of ${this.file.name} is longer than ${this.max} bytes (max_line_bytes); is this a text file?`,
        { line: this.lineNo + 1, byteOffset: this.offset });
    }
  }

  take() {
    const raw = new Uint8Array(this.pendingLen);
    let at = 0;
    for (const p of this.pending) { raw.set(p, at); at += p.length; }
    this.pending = [];
    this.pendingLen = 0;
    return raw;
  }

  // The record of one complete line (terminator removed), if any.
  line(raw) {
    this.lineNo += 1;
    let at = this.offset; // of raw[0] in the file
    this.offset += raw.length;
    if (raw.length && raw[raw.length - 1] === 0x0d) raw = raw.subarray(0, raw.length - 1);
    if (this.lineNo === 1 && raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf) { // a UTF-8 byte-order mark
      raw = raw.subarray(3);
      at += 3;
    }
    const nul = raw.indexOf(0);
    if (nul >= 0) {
      throw new ferry.MalformedInput(
        `line ${this.lineNo} of ${this.file.name} holds a NUL byte; this parser reads text only`,
        { line: this.lineNo, byteOffset: at + nul });
    }
    const text = ferry.decodeUtf8(raw);
    if (text === null) {
      throw new ferry.MalformedInput(`line ${this.lineNo} of ${this.file.name} is not UTF-8`,
        { line: this.lineNo, byteOffset: at });
    }
    if (text.trim() === "") return [];
    return [{ line_no: this.lineNo, text }];
  }
}

class Lines extends ferry.Parser {
  static name = "{{name}}";
  static version = "0.1.0";
  static description = "Plain UTF-8 text: one record {line_no, text} per non-empty line.";
  static config = {
    max_line_bytes: {
      type: "integer", default: MAX_LINE_BYTES,
      doc: `longest accepted line in bytes, 1 to ${MAX_LINE_BYTES}; a longer line makes the file malformed`,
    },
  };

  checkConfig(config) {
    if (!(config.max_line_bytes >= 1 && config.max_line_bytes <= MAX_LINE_BYTES)) {
      throw new ferry.InvalidConfig(
        `max_line_bytes is ${config.max_line_bytes}; it must be between 1 and ${MAX_LINE_BYTES}`);
    }
  }

  open(file, config) {
    return new LineSession(file, config);
  }
}

// What the componentizer exports as ferry's `parse` interface.
export const parse = ferry.exportParser(Lines);

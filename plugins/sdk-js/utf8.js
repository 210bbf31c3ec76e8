// UTF-8 without TextEncoder/TextDecoder: QuickJS inside a component has
// neither, Node has both (used when present: they are faster).

const hasCodec = typeof TextEncoder === "function" && typeof TextDecoder === "function";
const enc = hasCodec ? new TextEncoder() : null;
const dec = hasCodec ? new TextDecoder("utf-8", { fatal: true }) : null;

/** Writes `s` as UTF-8 into `buf` at `pos` and returns the position after
 * it. `buf` must have room for `3 * s.length` bytes (the most UTF-8 needs per
 * UTF-16 unit). Lone surrogates become U+FFFD, as TextEncoder does. */
export function writeUtf8(s, buf, pos) {
  if (enc) return pos + enc.encodeInto(s, buf.subarray(pos)).written;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) { buf[pos++] = c; continue; }
    if (c < 0x800) { buf[pos++] = 0xc0 | (c >> 6); buf[pos++] = 0x80 | (c & 63); continue; }
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        buf[pos++] = 0xf0 | (c >> 18);
        buf[pos++] = 0x80 | ((c >> 12) & 63);
        buf[pos++] = 0x80 | ((c >> 6) & 63);
        buf[pos++] = 0x80 | (c & 63);
        continue;
      }
    }
    if (c >= 0xd800 && c < 0xe000) c = 0xfffd;
    buf[pos++] = 0xe0 | (c >> 12);
    buf[pos++] = 0x80 | ((c >> 6) & 63);
    buf[pos++] = 0x80 | (c & 63);
  }
  return pos;
}

/** `s` as UTF-8 bytes. */
export function encodeUtf8(s) {
  if (enc) return enc.encode(s);
  const buf = new Uint8Array(3 * s.length);
  return buf.slice(0, writeUtf8(s, buf, 0));
}

/** Bytes `b[start..end)` decoded as UTF-8; `null` when they are not valid UTF-8. */
export function decodeUtf8(b, start = 0, end = b.length) {
  if (dec) {
    try { return dec.decode(b.subarray(start, end)); } catch { return null; }
  }
  let s = "";
  let ascii = true;
  for (let i = start; i < end; i++) if (b[i] >= 0x80) { ascii = false; break; }
  if (ascii) {
    // Chunked: String.fromCharCode takes its arguments on the stack.
    for (let i = start; i < end; i += 8192) {
      s += String.fromCharCode.apply(null, b.subarray(i, Math.min(end, i + 8192)));
    }
    return s;
  }
  const units = [];
  for (let i = start; i < end;) {
    const a = b[i];
    let cp, n;
    if (a < 0x80) { cp = a; n = 1; }
    else if (a >= 0xc2 && a < 0xe0) { cp = a & 31; n = 2; }
    else if (a >= 0xe0 && a < 0xf0) { cp = a & 15; n = 3; }
    else if (a >= 0xf0 && a < 0xf5) { cp = a & 7; n = 4; }
    else return null;
    if (i + n > end) return null;
    for (let k = 1; k < n; k++) {
      const c = b[i + k];
      if ((c & 0xc0) !== 0x80) return null;
      cp = (cp << 6) | (c & 63);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((n === 3 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) || (n === 4 && (cp < 0x10000 || cp > 0x10ffff))) {
      return null;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 1023));
    } else {
      units.push(cp);
    }
    i += n;
    if (units.length >= 8192) { s += String.fromCharCode.apply(null, units); units.length = 0; }
  }
  return s + String.fromCharCode.apply(null, units);
}

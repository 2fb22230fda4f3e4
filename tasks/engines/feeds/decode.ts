// Bytes to text for a feed: BOM first, then the HTTP charset, then the XML declaration,
// then UTF-8 (RFC 7303's order). UTF-8 is decoded strictly: a feed that is not what it
// claims to be is rejected with the reason rather than silently turned into mojibake.
import iconv from 'iconv-lite';

export type DecodeOutcome = { ok: true; text: string; encoding: string } | { ok: false; reason: string };

const UTF8_BOM = [0xef, 0xbb, 0xbf];

/** Canonical names for the labels feeds and servers use. */
function canonicalEncoding(label: string): string {
  const l = label.trim().toLowerCase().replace(/^["']|["']$/g, '');
  if (l === 'utf8' || l === 'utf-8' || l === 'unicode-1-1-utf-8') return 'utf-8';
  if (l === 'latin1' || l === 'iso-8859-1' || l === 'iso8859-1' || l === 'iso_8859-1' || l === 'l1') return 'iso-8859-1';
  if (l === 'us-ascii' || l === 'ascii') return 'utf-8'; // ASCII is a subset; strict UTF-8 still rejects high bytes
  if (l === 'shift-jis' || l === 'sjis' || l === 'x-sjis' || l === 'shift_jis') return 'shift_jis';
  return l;
}

/** The `encoding` of an XML declaration, read as ASCII from the first bytes. */
export function declaredEncoding(bytes: Uint8Array): string | undefined {
  const head = Buffer.from(bytes.subarray(0, 512)).toString('latin1').replace(/^\uFEFF|^\u00EF\u00BB\u00BF/, '').trimStart();
  const m = /^<\?xml\s[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']/.exec(head);
  return m?.[1];
}

/** `charset` parameter of a Content-Type header. */
export function charsetOf(contentType: string | undefined): string | undefined {
  const m = /;\s*charset\s*=\s*("?)([^";\s]+)\1/i.exec(contentType ?? '');
  return m?.[2];
}

export function decodeFeedBytes(bytes: Uint8Array, httpCharset?: string): DecodeOutcome {
  if (bytes.length === 0) return { ok: false, reason: 'empty document (0 bytes)' };
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    return { ok: false, reason: 'body is gzip-compressed data, not XML (compressed without a Content-Encoding header)' };
  }
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return decodeAs(bytes.subarray(2), 'utf-16be', 'UTF-16BE byte order mark');
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return decodeAs(bytes.subarray(2), 'utf-16le', 'UTF-16LE byte order mark');
  if (UTF8_BOM.every((b, i) => bytes[i] === b)) return decodeAs(bytes.subarray(3), 'utf-8', 'UTF-8 byte order mark');
  const declared = declaredEncoding(bytes);
  if (httpCharset) {
    const viaHttp = decodeAs(bytes, canonicalEncoding(httpCharset), `HTTP charset "${httpCharset}"`);
    // Servers often send a blanket "charset=utf-8"; a feed that declares its own (different)
    // encoding and is not valid in the server's gets the benefit of the doubt.
    if (viaHttp.ok || !declared || canonicalEncoding(declared) === canonicalEncoding(httpCharset)) return viaHttp;
  }
  if (declared) return decodeAs(bytes, canonicalEncoding(declared), `XML declaration encoding="${declared}"`);
  return decodeAs(bytes, 'utf-8', 'no encoding declared, so UTF-8');
}

function decodeAs(bytes: Uint8Array, encoding: string, why: string): DecodeOutcome {
  if (encoding === 'utf-8') {
    try {
      return { ok: true, text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes), encoding };
    } catch {
      const at = firstInvalidUtf8(bytes);
      return { ok: false, reason: `bytes are not valid UTF-8 (${why}): invalid byte 0x${bytes[at]?.toString(16).padStart(2, '0')} at offset ${at}` };
    }
  }
  if (!iconv.encodingExists(encoding)) return { ok: false, reason: `unknown character encoding "${encoding}" (${why})` };
  return { ok: true, text: iconv.decode(Buffer.from(bytes), encoding, { stripBOM: true }), encoding };
}

/** Offset of the first byte that breaks UTF-8, for the error message. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const c = bytes[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    const follow = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (follow < 0) return i;
    for (let k = 1; k <= follow; k++) {
      if (i + k >= bytes.length || (bytes[i + k]! & 0xc0) !== 0x80) return i;
    }
    i += follow + 1;
  }
  return bytes.length;
}

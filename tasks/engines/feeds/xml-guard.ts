// Safety and well-formedness checks that run BEFORE the XML parser sees a document.
// fast-xml-parser is lenient, so this is where hostile or broken input stops:
// - any DOCTYPE or other markup declaration is rejected outright, so no DTD is read, no
//   entity is declared and nothing external (file or URL) can ever be referenced;
// - entity references are limited to XML's five predefined ones and numeric references
//   (`&nbsp;` or `&gtgt;` in a feed is an error, as in every strict XML parser);
// - namespace prefixes must be declared; nesting depth is capped;
// - then fast-xml-parser's own validator checks tags and attributes.
// The scan is one linear pass: bounded time and memory for any input under the size cap.
import { XMLValidator } from 'fast-xml-parser';

export type GuardOutcome = { ok: true } | { ok: false; reason: string };

const PREDEFINED = new Set(['amp', 'lt', 'gt', 'quot', 'apos']);
const MAX_DEPTH = 128;
const TAG = /<([^\s/>!?][^\s/>]*)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/y;
const ATTRIBUTE = /([^\s=/>]+)\s*=\s*(?:"[^"]*"|'[^']*')/g;
const ENTITY = /&(#[0-9]+|#x[0-9a-fA-F]+|[A-Za-z_:][\w.:-]*);/y;

function lineAt(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Length of the entity reference at `amp`, or why it is refused. */
function checkEntity(text: string, amp: number): number | GuardOutcome {
  const fail = (message: string): GuardOutcome => ({ ok: false, reason: `${message} (line ${lineAt(text, amp)})` });
  ENTITY.lastIndex = amp;
  const m = ENTITY.exec(text);
  if (!m) return fail('unescaped "&" (not an entity reference)');
  const name = m[1]!;
  if (!name.startsWith('#')) {
    if (PREDEFINED.has(name)) return m[0].length;
    return fail(`undefined entity "&${name};" (only &amp; &lt; &gt; &quot; &apos; and numeric references exist without a DTD)`);
  }
  const code = name[1] === 'x' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
  const valid =
    code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
  return valid ? m[0].length : fail(`character reference "&${name};" is not a valid XML character`);
}

export function checkXml(text: string): GuardOutcome {
  const fail = (index: number, message: string): GuardOutcome => ({ ok: false, reason: `${message} (line ${lineAt(text, index)})` });
  const declared = new Set(['xml', 'xmlns']);
  const used = new Map<string, number>();
  const usePrefix = (qname: string, index: number) => {
    const colon = qname.indexOf(':');
    if (colon > 0) {
      const prefix = qname.slice(0, colon);
      if (!used.has(prefix)) used.set(prefix, index);
    }
  };

  let depth = 0;
  let i = 0;
  // Next '<' and '&' at or after i; -1 once none is left (searched again only when passed,
  // so the scan stays linear).
  let lt = -2;
  let amp = -2;
  for (;;) {
    if (lt !== -1 && lt < i) lt = text.indexOf('<', i);
    if (amp !== -1 && amp < i) amp = text.indexOf('&', i);
    if (lt < 0 && amp < 0) break;
    if (amp >= 0 && (lt < 0 || amp < lt)) {
      const checked = checkEntity(text, amp);
      if (typeof checked !== 'number') return checked;
      i = amp + checked;
      continue;
    }
    // Markup at `lt`.
    const skipTo = (terminator: string, what: string): number | GuardOutcome => {
      const end = text.indexOf(terminator, lt);
      return end < 0 ? fail(lt, `unterminated ${what}: the document is truncated`) : end + terminator.length;
    };
    let next: number | GuardOutcome;
    if (text.startsWith('<!--', lt)) next = skipTo('-->', 'comment');
    else if (text.startsWith('<![', lt)) next = skipTo(']]>', 'CDATA section');
    else if (text.startsWith('<?', lt)) next = skipTo('?>', 'processing instruction');
    else if (text.startsWith('<!', lt)) {
      const word = /^<!([A-Za-z]*)/.exec(text.slice(lt, lt + 20))?.[1] ?? '';
      // Quote the start of the declaration: "<!DOCTYPE html" tells an operator a web page was served.
      const quoted = text.slice(lt, lt + 40).replace(/\s+/g, ' ').replace(/\[.*$|>.*$/, '').trim();
      // A web page instead of a feed (an error page, a login wall, a moved site): say that first.
      if (word.toUpperCase() === 'DOCTYPE' && /^<!DOCTYPE\s+html\b/i.test(quoted)) {
        return fail(lt, `the server sent an HTML page, not a feed (it starts with ${quoted}>: DOCTYPE declaration refused); check the feed URL in a browser`);
      }
      return fail(
        lt,
        word.toUpperCase() === 'DOCTYPE'
          ? `DOCTYPE declaration refused (${quoted}...): DTDs and entity declarations are never processed (they enable entity expansion and external fetches)`
          : `markup declaration "<!${word}" refused`,
      );
    } else if (text.startsWith('</', lt)) {
      depth--;
      next = skipTo('>', 'closing tag');
    } else {
      TAG.lastIndex = lt;
      const m = TAG.exec(text);
      if (!m) {
        // Leave the precise complaint to the validator below.
        next = lt + 1;
      } else {
        usePrefix(m[1]!, lt);
        for (const attribute of m[2]!.matchAll(ATTRIBUTE)) {
          const name = attribute[1]!;
          if (name.startsWith('xmlns:')) declared.add(name.slice(6));
          else usePrefix(name, lt);
        }
        // Entity references inside attribute values obey the same rules.
        for (let a = m[0].indexOf('&'); a >= 0; a = m[0].indexOf('&', a + 1)) {
          const checked = checkEntity(text, lt + a);
          if (typeof checked !== 'number') return checked;
        }
        if (m[3] !== '/' && ++depth > MAX_DEPTH) return fail(lt, `elements nested deeper than ${MAX_DEPTH} levels`);
        next = lt + m[0].length;
      }
    }
    if (typeof next !== 'number') return next;
    i = next;
  }
  for (const [prefix, index] of used) {
    if (!declared.has(prefix)) return fail(index, `namespace prefix "${prefix}:" is used but never declared (no xmlns:${prefix})`);
  }

  const valid = XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (valid !== true) return { ok: false, reason: `not well-formed XML: ${explain(valid.err.msg)} (line ${valid.err.line}${valid.err.col ? `, column ${valid.err.col}` : ''})` };
  return { ok: true };
}

/** The validator's wording, made clear for the few messages that are not. */
function explain(message: string): string {
  const unclosed = /^Invalid '(\[.*\])' found\.?$/s.exec(message);
  if (unclosed) {
    try {
      const names = JSON.parse(unclosed[1]!) as string[];
      return `the document is truncated: <${names.join('>, <')}> never closed`;
    } catch {
      return message;
    }
  }
  if (message.startsWith('Start tag expected')) return 'no root element (empty document, or only comments)';
  return message;
}

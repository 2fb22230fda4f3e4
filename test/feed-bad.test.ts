// Every broken or hostile file in corpus/bad is refused with a clear reason, in bounded time
// and memory, without reading a file or making a request (entities are never resolved).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseFeed } from '../tasks/engines/feeds/parse.ts';
import { PROJECT_ROOT } from './helpers/cli.ts';
import { FIXTURES } from './helpers/fixtures.ts';
import { startFeedServer } from './helpers/feed-server.ts';
import { tempDir } from './helpers/temp.ts';

const BAD = path.join(FIXTURES, 'bad');
/** Well-formed and correctly declared; its items carry image enclosures (see feed-parse.test.ts). */
const NOT_BROKEN = new Set(['windows-1251-declared.xml']);

/** What each file must be refused for: the reason has to name the actual problem. */
const EXPECTED: Record<string, RegExp> = {
  'argl-no-feed-root.xml': /not a feed: the root element is <rxx>/,
  'argl-non-well-formed.xml': /unescaped "&"/,
  'cloudfront-301-html-instead-of-feed.xml': /not well-formed XML: Expected closing tag 'hr'/,
  'dbengines-nbsp-undefined-entity.xml': /undefined entity "&nbsp;"/,
  'de-grote-unbound-prefix-no-guid.xml': /namespace prefix "itunes:" is used but never declared/,
  'defusedxml-cyclic-entity.xml': /DOCTYPE declaration refused/,
  'defusedxml-external-dtd.xml': /DOCTYPE declaration refused/,
  'defusedxml-external-entity-file.xml': /DOCTYPE declaration refused/,
  'defusedxml-external-entity-http.xml': /DOCTYPE declaration refused/,
  'defusedxml-quadratic-blowup.xml': /DOCTYPE declaration refused/,
  'defusedxml-xmlbomb.xml': /DOCTYPE declaration refused/,
  'defusedxml-xmlbomb2.xml': /DOCTYPE declaration refused/,
  'empty-0-bytes-feed.xml': /empty document \(0 bytes\)/,
  'fp-bogus-encoding.xml': /unknown character encoding "bogus"/,
  'fp-declared-utf8-invalid-bytes-linenoise.xml': /not valid UTF-8 .*0xa9/,
  'fp-doctype-external-parameter-entity.xml': /DOCTYPE declaration refused/,
  'fp-doctype-html-before-rss.xml': /DOCTYPE declaration refused/,
  'fp-empty-document.xml': /no root element/,
  'fp-entity-in-doctype.xml': /DOCTYPE declaration refused/,
  'fp-incomplete-cdata.xml': /unterminated CDATA section: the document is truncated/,
  'fp-invalid-bytes-with-utf8-bom.xml': /not valid UTF-8 \(UTF-8 byte order mark\)/,
  'fp-shiftjis-no-encoding-decl.xml': /not valid UTF-8 \(no encoding declared/,
  'fp-unclosed-root.xml': /truncated/,
  'fp-undeclared-namespace.xml': /namespace prefix "itunes:"/,
  'gzip-bytes-served-as-feed.xml': /gzip-compressed/,
  'marketwatch-document-moved.rss': /Multiple possible root nodes/,
  'no-agenda-undefined-entity.xml': /undefined entity "&gtgt;" .*line 2760/,
  'notafeed.html': /the server sent an HTML page, not a feed \(it starts with <!DOCTYPE html/i,
  'reuters-truncated.xml': /truncated: <rss>, <channel> never closed/,
  'unescaped-ampersand-saxerror.xml': /unescaped "&" .*line 15/,
  'uol-latin1-bytes-no-encoding-decl.rss': /not valid UTF-8 .*0xda/,
  'website-unavailable-html-response.xml': /DOCTYPE declaration refused/,
};

const badFiles = () => readdirSync(BAD).filter((f) => f !== 'INDEX.md' && !NOT_BROKEN.has(f));

test('every file in corpus/bad is refused with a reason that names the problem', () => {
  const files = badFiles();
  assert.deepEqual(files.sort(), Object.keys(EXPECTED).sort(), 'every bad file has an expectation');
  for (const file of files) {
    const started = performance.now();
    const outcome = parseFeed(readFileSync(path.join(BAD, file)));
    const ms = performance.now() - started;
    assert.equal(outcome.ok, false, `${file} must be refused`);
    if (!outcome.ok) assert.match(outcome.reason, EXPECTED[file]!, file);
    assert.ok(ms < 2_000, `${file} took ${ms} ms`);
  }
});

test('bounded memory and time: the bad corpus plus scaled-up bombs in a 64 MB heap', async (t) => {
  const dir = await tempDir(t);
  // A billion-laughs at full scale, a deeply nested document and one above the size cap.
  const laughs = ['<?xml version="1.0"?>', '<!DOCTYPE rss [', '<!ENTITY lol0 "lol">'];
  for (let i = 1; i <= 10; i++) laughs.push(`<!ENTITY lol${i} "${`&lol${i - 1};`.repeat(10)}">`);
  laughs.push(']>', '<rss><channel><title>&lol10;</title></channel></rss>');
  await writeFile(path.join(dir, 'billion-laughs.xml'), laughs.join('\n'));
  await writeFile(path.join(dir, 'deep.xml'), `<rss>${'<a>'.repeat(200_000)}${'</a>'.repeat(200_000)}</rss>`);
  await writeFile(path.join(dir, 'huge.xml'), `<rss><channel>${'<item><title>x</title></item>'.repeat(1_000_000)}</channel></rss>`);
  const script = `
    import { readFileSync, readdirSync } from 'node:fs';
    import { parseFeed } from ${JSON.stringify(path.join(PROJECT_ROOT, 'tasks/engines/feeds/parse.ts'))};
    const files = process.argv.slice(1);
    const results = files.map((file) => {
      const started = performance.now();
      const outcome = parseFeed(readFileSync(file));
      return { file, ok: outcome.ok, reason: outcome.ok ? '' : outcome.reason, ms: performance.now() - started };
    });
    process.stdout.write(JSON.stringify({ results, heapMB: process.memoryUsage().heapUsed / 1e6 }));
  `;
  const files = [...badFiles().map((f) => path.join(BAD, f)), ...['billion-laughs.xml', 'deep.xml', 'huge.xml'].map((f) => path.join(dir, f))];
  const child = spawnSync(process.execPath, ['--max-old-space-size=64', '--import', 'tsx', '--input-type=module', '-e', script, ...files], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(child.status, 0, `child failed (out of memory or time?): ${child.stderr.slice(-2000)}`);
  const { results } = JSON.parse(child.stdout) as { results: { file: string; ok: boolean; reason: string; ms: number }[] };
  assert.equal(results.length, files.length);
  for (const r of results) {
    assert.equal(r.ok, false, `${r.file} must be refused`);
    assert.ok(r.ms < 5_000, `${path.basename(r.file)} took ${r.ms} ms`);
  }
  const by = (name: string) => results.find((r) => r.file.endsWith(name))!.reason;
  assert.match(by('billion-laughs.xml'), /DOCTYPE declaration refused/);
  assert.match(by('deep.xml'), /nested deeper than/);
  assert.match(by('huge.xml'), /above the .*-byte cap/);
});

test('external entities and DTDs are never fetched or read: the named server gets no request', async (t) => {
  const server = await startFeedServer(t);
  server.set('/secret.xml', { body: '<secret>leaked</secret>' });
  server.set('/evil.dtd', { body: '<!ENTITY leak SYSTEM "http://127.0.0.1/secret.xml">' });
  const dir = await tempDir(t);
  const secretFile = path.join(dir, 'secret.txt');
  await writeFile(secretFile, 'local secret');
  const documents = [
    `<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY ee SYSTEM "${server.url('/secret.xml')}">]><rss><channel><title>&ee;</title></channel></rss>`,
    `<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY ee SYSTEM "file://${secretFile}">]><rss><channel><title>&ee;</title></channel></rss>`,
    `<?xml version="1.0"?><!DOCTYPE rss SYSTEM "${server.url('/evil.dtd')}"><rss><channel><title>&leak;</title></channel></rss>`,
    `<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY % p SYSTEM "${server.url('/evil.dtd')}"> %p;]><rss><channel><title>x</title></channel></rss>`,
    // Declarations hidden after the root are refused as well.
    `<rss><channel><title>x</title></channel><!DOCTYPE rss [<!ENTITY ee SYSTEM "${server.url('/secret.xml')}">]></rss>`,
  ];
  for (const doc of documents) {
    const outcome = parseFeed(Buffer.from(doc));
    assert.equal(outcome.ok, false, doc);
    if (!outcome.ok) {
      assert.match(outcome.reason, /DOCTYPE declaration refused/);
      assert.doesNotMatch(outcome.reason, /leaked|local secret/);
    }
  }
  // Give any stray request time to arrive before checking there was none.
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(server.requests, []);
  // The parsing modules cannot touch files or the network at all.
  for (const module of ['engines/feeds/parse.ts', 'engines/feeds/decode.ts', 'engines/feeds/xml-guard.ts', 'engines/feeds/dates.ts', 'site/episode-identity.ts']) {
    const source = readFileSync(path.join(PROJECT_ROOT, 'tasks', module), 'utf8');
    assert.doesNotMatch(source, /from 'node:(fs|http|https|net|child_process)/, module);
  }
});

// A property test of the manifest protocol (tasks/engines/manifest/manifest-sync.ts): two machines and one
// bucket, random sequences of feed episodes added on either machine, reconciliations whose
// download fails, uploads that fail or lose a race, and a bucket copy that a faulty server
// empties or cuts short. Whatever happens, once both machines have had one clean night, the
// bucket's manifest holds every episode any machine ever added, each exactly once.
// It drives the pure decisions the runner's I/O code applies: decideManifest (pre-sync) and
// publishDecision (upload), with the same rules for what is known and what may be written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { identifyEpisodes } from '../tasks/site/episode-identity.ts';
import type { FeedEpisode } from '../tasks/engines/feeds/parse.ts';
import { emptyManifest, mergeFeedEpisodes, parseManifest, renumber, serializeManifest, type Manifest } from '../tasks/site/manifest.ts';
import { decideManifest, publishDecision, type BucketManifest } from '../tasks/engines/manifest/manifest-sync.ts';
import type { LocalManifest } from '../tasks/site/manifest-store.ts';
import { seededRandom } from './helpers/random.ts';

/** The feed's back catalogue: 40 episodes, some without a GUID (matched by URL, then date + title). */
const CATALOGUE: FeedEpisode[] = Array.from({ length: 40 }, (_, i) => ({
  title: `Episode ${i} ${i % 7 === 0 ? 'Rerun' : 'Story'}`,
  ...(i % 5 === 0 ? {} : { guid: `guid-${i}` }),
  publishedAt: new Date(Date.UTC(2024, 0, 1 + i, 10)),
  enclosureUrl: `https://cdn.example.com/${i}.mp3?tracker=${i}`,
  enclosureType: 'audio/mpeg',
}));
const identityOf = (e: { guid?: string; originalAudioURL?: string }) => e.guid ?? e.originalAudioURL?.replace(/\?.*$/, '');

interface Machine {
  local: LocalManifest;
  /** The basis of the current night: undefined before reconciling or when the download failed. */
  basis?: 'known';
  now: number;
}

type Bucket = { text: string } | undefined;

function readBucket(bucket: Bucket): BucketManifest {
  if (!bucket) return { kind: 'absent' };
  const parsed = parseManifest(bucket.text);
  return parsed.ok ? { kind: 'ok', manifest: parsed.manifest, text: bucket.text, etag: undefined } : { kind: 'invalid', reason: parsed.reason, etag: undefined };
}

function localOf(text: string): LocalManifest {
  const parsed = parseManifest(text);
  return parsed.ok ? { kind: 'ok', manifest: parsed.manifest, text } : { kind: 'invalid', reason: parsed.reason, text };
}

function manifestOf(local: LocalManifest): Manifest {
  return local.kind === 'ok' ? (JSON.parse(local.text) as Manifest) : emptyManifest();
}

test('random nights on two machines with failed and racing transfers and a damaged bucket: no episode is ever lost or listed twice', () => {
  const seeds = Number(process.env.MANIFEST_PROPERTY_SEEDS ?? 300);
  let operations = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const roll = seededRandom(seed);
    const pick = <T>(list: T[]) => list[Math.floor(roll() * list.length)]!;
    const machines: Machine[] = [{ local: { kind: 'missing' }, now: 1_750_000_000_000 }, { local: { kind: 'missing' }, now: 1_750_000_500_000 }];
    let bucket: Bucket;
    const ever = new Set<string>();
    const trace: string[] = [];

    const reconcile = (m: Machine, downloadFails: boolean) => {
      if (downloadFails) {
        m.basis = undefined;
        return;
      }
      const decision = decideManifest(m.local, readBucket(bucket));
      if (decision.write) m.local = localOf(decision.write.text);
      m.basis = 'known';
    };
    const rss = (m: Machine) => {
      // rss adds nothing without the bucket's copy (or the proof there is none).
      if (m.basis !== 'known') return;
      const manifest = manifestOf(m.local);
      const items = CATALOGUE.filter(() => roll() < 0.15);
      const { episodes } = identifyEpisodes(items);
      const merged = mergeFeedEpisodes(manifest, 'pod', episodes, (m.now += 1000));
      if (merged.added.length === 0) return;
      renumber(manifest);
      for (const e of merged.added) ever.add(identityOf(e)!);
      m.local = localOf(serializeManifest(manifest));
    };
    const publish = (m: Machine, outcome: 'ok' | 'fails' | 'loses-race' | 'stored-empty') => {
      if (m.basis !== 'known' || m.local.kind !== 'ok') return;
      if (outcome === 'fails') return;
      if (outcome === 'stored-empty') {
        bucket = { text: '' };
        return;
      }
      if (outcome === 'loses-race') {
        // The other machine wrote first: read again, merge, write (the If-Match retry).
        const other = machines.find((x) => x !== m)!;
        if (other.local.kind === 'ok') bucket = { text: publishDecision(other.local.manifest, readBucket(bucket)).text };
      }
      const merged = publishDecision(m.local.manifest, readBucket(bucket));
      m.local = localOf(merged.text);
      bucket = { text: merged.text };
    };

    for (let step = 0; step < 25; step++) {
      operations++;
      const m = pick(machines);
      const op = roll();
      if (op < 0.1) {
        // A faulty server: the bucket's copy is emptied or cut short.
        const text = bucket?.text ?? '';
        bucket = { text: roll() < 0.5 ? '' : text.slice(0, Math.floor(text.length / 2)) };
        trace.push('damage');
        continue;
      }
      // One night on machine m.
      const downloadFails = roll() < 0.2;
      reconcile(m, downloadFails);
      rss(m);
      publish(m, pick(['ok', 'ok', 'fails', 'loses-race', 'stored-empty'] as const));
      trace.push(`night ${machines.indexOf(m)}${downloadFails ? ' (download failed)' : ''}`);
    }
    // One clean night on each machine, then one more on the first (it learns the second's).
    for (const m of [machines[0]!, machines[1]!, machines[0]!]) {
      reconcile(m, false);
      publish(m, 'ok');
    }
    const final = readBucket(bucket);
    const context = `seed ${seed}: ${trace.join(', ')}`;
    if (ever.size === 0) continue;
    assert.equal(final.kind, 'ok', context);
    const episodes = final.kind === 'ok' ? final.manifest.episodes : [];
    const ids = episodes.map((e) => identityOf(e)!);
    assert.deepEqual([...new Set(ids)].sort(), [...ever].sort(), `every episode ever added, ${context}`);
    assert.equal(ids.length, new Set(ids).size, `no episode twice, ${context}`);
    assert.deepEqual(
      episodes.map((e) => e.sequentialId),
      episodes.map((_, i) => i + 1),
      `numbered 1..N, ${context}`,
    );
    for (const m of machines) assert.equal(m.local.kind === 'ok' && m.local.text, bucket!.text, `both machines agree with the bucket, ${context}`);
  }
  assert.ok(operations >= seeds * 25);
});

test('merging is symmetric in content and idempotent: a ∪ b has the episodes of b ∪ a, and (a ∪ b) ∪ b changes nothing', () => {
  const roll = seededRandom(7);
  for (let round = 0; round < 200; round++) {
    const a = emptyManifest();
    const b = emptyManifest();
    const pickSome = () => identifyEpisodes(CATALOGUE.filter(() => roll() < 0.3)).episodes;
    mergeFeedEpisodes(a, 'pod', pickSome(), 1_750_000_000_000 + round);
    mergeFeedEpisodes(b, 'pod', pickSome(), 1_760_000_000_000 + round);
    renumber(a);
    renumber(b);
    const ab = publishDecision(a, { kind: 'ok', manifest: b, text: serializeManifest(b), etag: undefined });
    const ba = publishDecision(b, { kind: 'ok', manifest: a, text: serializeManifest(a), etag: undefined });
    const ids = (m: Manifest) => m.episodes.map((e) => identityOf(e)).sort();
    assert.deepEqual(ids(ab.manifest), ids(ba.manifest), `round ${round}`);
    const again = publishDecision(b, { kind: 'ok', manifest: ab.manifest, text: ab.text, etag: undefined });
    assert.equal(again.text, ab.text, `round ${round}: merging again changes nothing`);
  }
});

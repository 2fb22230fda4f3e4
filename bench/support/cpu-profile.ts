// Where a process's time went, from a V8 .cpuprofile (node --cpu-prof): self time by function
// and by origin (project source, a package in node_modules, Node's internals, GC, idle), and
// the inclusive time of the heaviest functions. For the benchmarks' "profile" reports.
import { readFile } from 'node:fs/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** The package (`@aws-sdk/client-s3`), `node:internal`, `project` or a special V8 node. */
function origin(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!.startsWith('.cache') ? 'project (bundle)' : pkg[1]!;
  if (url.startsWith('node:')) return 'node internals';
  if (/podcast-ingest-bundle/.test(url)) return 'project (bundle)';
  return 'project';
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(tasks|bench|scripts)\//, '$1/').replace(/^.*podcast-ingest-bundle[^/]*\/[^/]+\//, 'bundle/');
  return `${functionName || '(anonymous)'} ${file ? `${file}:${lineNumber + 1}` : ''}`.trim();
}

export async function summarizeProfile(file: string, top = 20): Promise<string> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const totalUs = profile.endTime - profile.startTime;

  const byOrigin = new Map<string, number>();
  const byFunction = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    byOrigin.set(origin(node), (byOrigin.get(origin(node)) ?? 0) + us);
    byFunction.set(label(node), (byFunction.get(label(node)) ?? 0) + us);
    // Inclusive: each distinct function on the stack once.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const l = label(byId.get(at)!);
      if (seen.has(l)) continue;
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + us);
    }
  }
  const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(6)} ms ${((100 * us) / totalUs).toFixed(1).padStart(5)}%`;
  const list = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => `    ${ms(us)}  ${k}`)
      .join('\n');
  const skip = new Set(['(root)', '(program)', '(idle)', '(garbage collector)']);
  const inclusiveTop = new Map([...inclusive].filter(([k]) => !skip.has(k.split(' ')[0]!)));
  return [
    `  profile ${file}: ${(totalUs / 1e6).toFixed(2)} s sampled`,
    '  self time by origin:',
    list(byOrigin, 12),
    `  self time, top ${top} functions:`,
    list(byFunction, top),
    `  inclusive time, top ${top} functions:`,
    list(inclusiveTop, top),
  ].join('\n');
}

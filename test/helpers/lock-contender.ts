// A separate process that takes the run lock when told to, for lock race tests. argv[2] is the
// lock module to load (the tests can point it at another version). One JSON command per stdin
// line, one JSON answer per stdout line:
//   {"cmd":"acquire","dir":...} -> {"acquired":true,"tookOverFrom":pid?} | {"acquired":false,"holderPid":pid,"holder":"..."}
//   {"cmd":"release"}           -> {"released":true}
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const lock = (await import(pathToFileURL(process.argv[2]!).href)) as typeof import('../../tasks/platform/lock.ts');
let release: (() => Promise<void>) | undefined;
const say = (message: object) => process.stdout.write(JSON.stringify(message) + '\n');

say({ ready: true, pid: process.pid });
for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line) as { cmd: 'acquire'; dir: string } | { cmd: 'release' };
  if (command.cmd === 'acquire') {
    const result = await lock.acquireLock(command.dir, 'contender');
    if (result.status === 'acquired') {
      release = result.release;
      say({ acquired: true, tookOverFrom: result.tookOverFrom?.pid });
    } else {
      say({ acquired: false, holderPid: result.holder.pid, holder: lock.describeHolder(result.holder) });
    }
  } else {
    await release?.();
    release = undefined;
    say({ released: true });
  }
}

// A real STS + S3 for the tests: Ceph's RADOS Gateway on a single-node cluster (one monitor,
// one memstore OSD, auth none) on loopback, every file inside a temporary folder. RGW enforces
// role trust and permission policies, so role separation is tested against a production
// implementation, not a mock. Install with scripts/install-test-services.sh (Debian, root).
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stopChild } from '../../tasks/demo/local/child.ts';

const run = promisify(execFile);

const BINARIES = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'monmaptool', 'ceph'];

/** Why the RGW tests cannot run here, or undefined when they can. */
export function radosgwUnavailable(): string | undefined {
  const missing = BINARIES.filter((b) => !['/usr/bin', '/usr/sbin', '/bin'].some((dir) => existsSync(path.join(dir, b))));
  if (missing.length === 0) return undefined;
  const root = process.getuid?.() === 0;
  const debian = existsSync('/etc/debian_version');
  if (!root || !debian) {
    return `RADOS Gateway not installed (${missing.join(', ')} missing) and this is not root on Debian: run scripts/install-test-services.sh as root on Debian`;
  }
  // Root on Debian: the install script should have run; fail loudly rather than skip.
  return undefined;
}

export interface RgwUser {
  uid: string;
  tenant: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** arn:aws:iam::<tenant>:user/<uid> */
  arn: string;
}

export interface RgwRole {
  name: string;
  tenant: string;
  arn: string;
}

export interface Radosgw {
  /** S3 and STS endpoint. */
  endpoint: string;
  dir: string;
  createUser(options: { uid: string; tenant: string }): Promise<RgwUser>;
  /** A role that `trusted` may assume, allowed exactly `actions` on `buckets` (and their objects). */
  createRole(options: { name: string; tenant: string; trusted: RgwUser; buckets: string[]; actions?: string[] }): Promise<RgwRole>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number, alive: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const dead = alive();
    if (dead) throw new Error(dead);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`radosgw did not listen on ${port} within ${timeoutMs} ms`);
}

function cephConf(dir: string, fsid: string, monPort: number, rgwPort: number): string {
  return `[global]
fsid = ${fsid}
mon_host = v1:127.0.0.1:${monPort}
mon_initial_members = a
ms_bind_msgr2 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
run_dir = ${dir}/run
pid_file = ${dir}/run/$name.pid
admin_socket = ${dir}/run/$name.asok
log_file = ${dir}/log/$name.log
crash_dir = ${dir}/crash
osd_objectstore = memstore
memstore_device_bytes = 1073741824

[mon.a]
mon_data = ${dir}/mon/a

[osd.0]
osd_data = ${dir}/osd/0

[client.rgw]
rgw_frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw_data = ${dir}/rgw
rgw_sts_key = ${'abcdefghijklmnop'}
rgw_s3_auth_use_sts = true
rgw_dns_name = 127.0.0.1
`;
}

/**
 * Start a cluster and its gateway; about 15 s. Stop it with stop() (SIGTERM, then SIGKILL).
 * A start that fails (a loaded machine, a port taken between choosing and binding) is tried
 * once more from scratch; the error names both attempts.
 */
export async function startRadosgw(): Promise<Radosgw> {
  try {
    return await startCluster();
  } catch (first) {
    try {
      return await startCluster();
    } catch (second) {
      throw new Error(`radosgw failed to start twice: ${(first as Error).message}\n--- then: ${(second as Error).message}`);
    }
  }
}

async function startCluster(): Promise<Radosgw> {
  const missing = BINARIES.filter((b) => !['/usr/bin', '/usr/sbin', '/bin'].some((dir) => existsSync(path.join(dir, b))));
  if (missing.length > 0) throw new Error(`${missing.join(', ')} not installed: run sh scripts/install-test-services.sh (as root)`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rgw-'));
  const conf = path.join(dir, 'ceph.conf');
  const fsid = randomUUID();
  const [monPort, rgwPort] = [await freePort(), await freePort()];
  for (const sub of ['run', 'log', 'crash', 'mon/a', 'osd/0', 'rgw']) await mkdir(path.join(dir, sub), { recursive: true });
  await writeFile(conf, cephConf(dir, fsid, monPort, rgwPort));

  const children: ChildProcess[] = [];
  const daemonLogs = new Map<string, string>();
  const daemon = (name: string, args: string[]) => {
    const child = spawn(name, ['-c', conf, '-f', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (d: Buffer) => {
      out = (out + d.toString()).slice(-2000);
      daemonLogs.set(name, out);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    children.push(child);
    return child;
  };
  const tool = async (cmd: string, args: string[]) => {
    try {
      return (await run(cmd, ['-c', conf, ...args], { timeout: 60_000 })).stdout;
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
    }
  };
  const stop = async () => {
    await Promise.all(
      // radosgw and the OSD are slow to stop on SIGTERM: stopChild kills them after 3 s.
      children.map((child) => stopChild(child)),
    );
    await rm(dir, { recursive: true, force: true });
  };

  // A freshly started OSD sometimes sends its first monitor command before it has the
  // cluster's monmap and exits on "wrong fsid" (seen in about a third of starts): start it
  // again until it is up.
  const startOsd = async (osdId: string): Promise<ChildProcess> => {
    for (let attempt = 1; ; attempt++) {
      const osd = daemon('ceph-osd', ['-i', osdId]);
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && osd.exitCode === null) {
        const stat = JSON.parse(await tool('ceph', ['osd', 'stat', '-f', 'json'])) as { num_up_osds?: number };
        if (stat.num_up_osds === 1) return osd;
        await new Promise((r) => setTimeout(r, 300));
      }
      if (osd.exitCode === null) throw new Error(`ceph-osd did not come up within 30 s: ${daemonLogs.get('ceph-osd') ?? ''}`);
      children.splice(children.indexOf(osd), 1);
      if (attempt >= 4) throw new Error(`ceph-osd exited with ${osd.exitCode} ${attempt} times: ${daemonLogs.get('ceph-osd') ?? ''}`);
    }
  };

  try {
    await run('monmaptool', ['--create', '--clobber', '--fsid', fsid, '--addv', 'a', `[v1:127.0.0.1:${monPort}]`, path.join(dir, 'monmap')]);
    await tool('ceph-mon', ['--mkfs', '-i', 'a', '--monmap', path.join(dir, 'monmap')]);
    const mon = daemon('ceph-mon', ['-i', 'a']);
    // The OSD re-registers itself at start with its uuid: create it with the same one.
    const osdUuid = randomUUID();
    const osdId = (await tool('ceph', ['--connect-timeout', '30', 'osd', 'create', osdUuid])).trim();
    await tool('ceph-osd', ['-i', osdId, '--mkfs', '--osd-uuid', osdUuid]);
    const osd = await startOsd(osdId);
    const rgw = daemon('radosgw', ['-n', 'client.rgw']);
    await waitForPort(rgwPort, 60_000, () => {
      for (const [name, child] of [['ceph-mon', mon], ['ceph-osd', osd], ['radosgw', rgw]] as const) {
        if (child.exitCode !== null) return `${name} exited with ${child.exitCode}: ${daemonLogs.get(name) ?? ''}`;
      }
      return undefined;
    });
  } catch (error) {
    await stop();
    throw error;
  }

  const admin = (args: string[]) => tool('radosgw-admin', ['-n', 'client.rgw', ...args]);
  return {
    endpoint: `http://127.0.0.1:${rgwPort}`,
    dir,
    async createUser({ uid, tenant }) {
      const accessKeyId = `AK${randomUUID().replace(/-/g, '').slice(0, 18).toUpperCase()}`;
      const secretAccessKey = randomUUID().replace(/-/g, '') + randomUUID().replace(/-/g, '').slice(0, 8);
      await admin(['user', 'create', `--tenant=${tenant}`, `--uid=${uid}`, `--display-name=${uid}`, `--access-key=${accessKeyId}`, `--secret-key=${secretAccessKey}`]);
      await admin(['caps', 'add', `--tenant=${tenant}`, `--uid=${uid}`, '--caps=roles=*']);
      return { uid, tenant, accessKeyId, secretAccessKey, arn: `arn:aws:iam::${tenant}:user/${uid}` };
    },
    async createRole({ name, tenant, trusted, buckets, actions = ['s3:*'] }) {
      const trust = {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { AWS: [trusted.arn] }, Action: ['sts:AssumeRole'] }],
      };
      const policy = {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: actions,
            Resource: buckets.flatMap((b) => [`arn:aws:s3:::${b}`, `arn:aws:s3:::${b}/*`]),
          },
        ],
      };
      await admin(['role', 'create', `--tenant=${tenant}`, `--role-name=${name}`, '--path=/', `--assume-role-policy-doc=${JSON.stringify(trust)}`]);
      await admin(['role-policy', 'put', `--tenant=${tenant}`, `--role-name=${name}`, '--policy-name=access', `--policy-doc=${JSON.stringify(policy)}`]);
      return { name, tenant, arn: `arn:aws:iam::${tenant}:role/${name}` };
    },
    stop,
  };
}

// ffmpeg: found on PATH (or FFMPEG), else installed from Debian's packages when we are root on
// Debian, else a message saying how to install it on this system.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

export interface SetupOptions {
  purpose: 'demo' | 'test';
  say: (line: string) => void;
}
export interface SetupResult {
  ok: boolean;
}

export function ffmpegPath(): string {
  return process.env.FFMPEG || 'ffmpeg';
}

export function ffmpegVersion(binary = ffmpegPath()): string | undefined {
  const probe = spawnSync(binary, ['-hide_banner', '-version'], { encoding: 'utf8' });
  if (probe.status !== 0) return undefined;
  return /ffmpeg version (\S+)/.exec(probe.stdout)?.[1] ?? 'unknown';
}

function isDebianRoot(): boolean {
  const osRelease = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
  return process.getuid?.() === 0 && /ID(_LIKE)?=.*debian/.test(osRelease) && existsSync('/usr/bin/apt-get');
}

export async function ensureFfmpeg({ say }: SetupOptions): Promise<SetupResult> {
  const found = ffmpegVersion();
  if (found) {
    say(`ffmpeg ${found} found`);
    return { ok: true };
  }
  if (isDebianRoot()) {
    say('ffmpeg missing: installing it from Debian packages (about 30 s)...');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    const install =
      update.status === 0 ? spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'ffmpeg'], { stdio: 'inherit', env }) : update;
    const after = ffmpegVersion();
    if (install.status === 0 && after) {
      say(`ffmpeg ${after} installed`);
      return { ok: true };
    }
  }
  say(
    'ffmpeg is missing. Install it: Debian/Ubuntu `sudo apt-get install ffmpeg`; macOS `brew install ffmpeg`; ' +
      'Fedora `sudo dnf install ffmpeg`; or set FFMPEG to its path. Transcription fails until then.',
  );
  return { ok: false };
}

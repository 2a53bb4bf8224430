import { readdir, readFile } from 'node:fs/promises';
import { run } from './run';

/** Clock ticks per second of /proc's CPU times (Linux: 100). */
const CLOCK_TICKS = 100;

/** True when `pid` is a live linux.uml process of the guest with this umid under this uml_dir. */
export async function isGuestProcess(pid: number | undefined, umid: string, umlDir: string): Promise<boolean> {
  if (!pid) return false;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  const args = cmdline.split('\0');
  if (!args.includes(`umid=${umid}`) || !args.includes(`uml_dir=${umlDir}`)) return false;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return !/^\d+ \(.*\) Z/.test(stat);
}

/** The process and its direct children (UML runs each guest address space as a host child). */
async function processTree(pid: number): Promise<Array<{ pid: number; fields: string[] }>> {
  const out: Array<{ pid: number; fields: string[] }> = [];
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const text = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    if (Number(entry) === pid || Number(fields[1]) === pid) out.push({ pid: Number(entry), fields });
  }
  return out;
}

/**
 * CPU seconds the guest used: user+system time of the main process, of its reaped children
 * (cutime/cstime) and of its live children.
 */
export async function guestCpuSeconds(pid: number): Promise<number> {
  let ticks = 0;
  for (const p of await processTree(pid)) {
    // Fields after the command: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
    ticks += Number(p.fields[11]) + Number(p.fields[12]);
    if (p.pid === pid) ticks += Number(p.fields[13]) + Number(p.fields[14]);
  }
  return ticks / CLOCK_TICKS;
}

/** Runs one mconsole command against a guest's socket; returns what it answered after `OK`. */
export async function mconsole(socket: string, args: string[], signal?: AbortSignal): Promise<string> {
  const { stdout } = await run('uml_mconsole', [socket, ...args], { signal, timeoutMs: 15_000 });
  if (!stdout.startsWith('OK')) throw new Error(`uml_mconsole ${args.join(' ')}: ${stdout.trim()}`);
  return stdout.slice(2).trim();
}

/** The guest's own view through mconsole: memory in use and bytes read/written on its root disk. */
export async function guestCounters(socket: string, signal?: AbortSignal): Promise<{ memoryBytes: number; diskReadBytes: number; diskWriteBytes: number }> {
  const [meminfo, diskstats] = await Promise.all([mconsole(socket, ['proc', 'meminfo'], signal), mconsole(socket, ['proc', 'diskstats'], signal)]);
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(meminfo)?.[1] ?? 0) * 1024;
  let read = 0;
  let written = 0;
  for (const line of diskstats.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (/^ubd[a-z]+$/.test(f[2] ?? '')) {
      read += Number(f[5]) * 512;
      written += Number(f[9]) * 512;
    }
  }
  return { memoryBytes: Math.max(0, kib('MemTotal') - kib('MemAvailable')), diskReadBytes: read, diskWriteBytes: written };
}

/** Waits until `pid` is gone (polling every 50 ms), at most `ms`; true when it is. */
export async function waitForExit(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!(await check())) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return !(await check());
}

import { createHash } from 'node:crypto';
import { UnsupportedOperationError } from '../errors';
import { runTool } from './run-tool';

/** The host-side interfaces that carry one environment's traffic: its veth end and the ifb its sent traffic is redirected through. */
export interface ShapedInterfaces {
  veth: string;
  ifb: string;
}

/** Names of an environment's host-side veth end (`vrsp` + 11 hex digits of `key`) and of its ifb (`irsp` + the same digits). */
export function shapedInterfaces(key: string): ShapedInterfaces {
  const hex = createHash('sha256').update(key).digest('hex').slice(0, 11);
  return { veth: `vrsp${hex}`, ifb: `irsp${hex}` };
}

/**
 * A token bucket of `bitsPerSecond`: its burst (bytes) holds 20 ms at that rate and never less
 * than 32 KiB (a few full frames), and a packet waits at most 50 ms for tokens.
 */
function tbf(bitsPerSecond: number): string[] {
  const rate = Math.max(8000, Math.round(bitsPerSecond));
  const burst = Math.max(32 * 1024, Math.round(rate / 8 / 50));
  return ['tbf', 'rate', `${rate}bit`, 'burst', String(burst), 'latency', '50ms'];
}

/**
 * Caps an environment's network traffic both ways on the host's side of its veth, with `tc`
 * (argument arrays): what the host sends into the veth (the environment's received traffic)
 * through a `tbf` at the veth's root; what the environment sends, which arrives on the veth's
 * ingress where nothing can be queued, redirected (`u32` match-all, `mirred`) to an `ifb`
 * device whose root is the same `tbf`. A kernel without these (`sch_tbf`, `sch_ingress`,
 * `cls_u32`, `act_mirred`, `ifb`) refuses it: UNSUPPORTED_OPERATION quoting `tc`'s or `ip`'s
 * words.
 */
export class VethShaping {
  constructor(
    private readonly tc = 'tc',
    private readonly ip = 'ip',
  ) {}

  /** Applies (again) the cap of `bitsPerSecond` to the interfaces; whatever a previous apply left is replaced. */
  async apply(on: ShapedInterfaces, bitsPerSecond: number, signal?: AbortSignal): Promise<void> {
    await this.remove(on);
    const steps: Array<[string, string[]]> = [
      [this.tc, ['qdisc', 'replace', 'dev', on.veth, 'root', ...tbf(bitsPerSecond)]],
      [this.ip, ['link', 'add', 'name', on.ifb, 'type', 'ifb']],
      [this.ip, ['link', 'set', 'dev', on.ifb, 'up']],
      [this.tc, ['qdisc', 'replace', 'dev', on.ifb, 'root', ...tbf(bitsPerSecond)]],
      [this.tc, ['qdisc', 'add', 'dev', on.veth, 'handle', 'ffff:', 'ingress']],
      [this.tc, ['filter', 'add', 'dev', on.veth, 'parent', 'ffff:', 'protocol', 'all', 'u32', 'match', 'u32', '0', '0', 'action', 'mirred', 'egress', 'redirect', 'dev', on.ifb]],
    ];
    for (const [tool, args] of steps) {
      const done = await runTool(tool, args, { signal });
      if (done.exitCode === 0) continue;
      await this.remove(on);
      throw new UnsupportedOperationError('networkBitsPerSecond', `the host's kernel (${on.veth})`, `\`${tool} ${args.join(' ')}\` failed: ${done.stderr.trim() || `exit ${done.exitCode}`}`);
    }
  }

  /** Removes the cap: the ifb goes, and the veth's qdiscs (when the veth is still there). Nothing to remove is not an error. */
  async remove(on: ShapedInterfaces): Promise<void> {
    await runTool(this.ip, ['link', 'del', 'dev', on.ifb]);
    await runTool(this.tc, ['qdisc', 'del', 'dev', on.veth, 'ingress']);
    await runTool(this.tc, ['qdisc', 'del', 'dev', on.veth, 'root']);
  }
}

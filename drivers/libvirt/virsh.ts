import { UnavailableError } from '../errors';
import { runTool, type ToolResult } from '../host/run-tool';
import { lastLines } from '../host/run-tool';

/**
 * The operations the native binding does not expose (domain stats, snapshots, migration, version,
 * networks), through `virsh` with argument arrays. Not usable with `test://` URIs: the test driver's state
 * lives inside the process that opened it.
 */
export class Virsh {
  constructor(private readonly program: string, private readonly uri: string) {}

  /** Runs `virsh -q -c <uri> <args…>`; its exit code and output, whatever they are. */
  result(args: string[], signal?: AbortSignal): Promise<ToolResult> {
    return runTool(this.program, ['-q', '-c', this.uri, ...args], { signal });
  }

  /** Runs `virsh -q -c <uri> <args…>`; UNAVAILABLE with virsh's message when it fails. */
  async run(args: string[], what: string, signal?: AbortSignal): Promise<string> {
    const result = await this.result(args, signal);
    if (result.exitCode !== 0) throw new UnavailableError(`${what} failed: ${lastLines(result.stderr || result.stdout)}`, { uri: this.uri, args });
    return result.stdout;
  }

  /**
   * The user and group the hypervisor runs domains of `type` as (the DAC security model's base
   * label in `virsh capabilities`, e.g. `+64055:+64055` for libvirt-qemu); undefined without one.
   */
  async dacOwner(type: string, signal?: AbortSignal): Promise<{ uid: number; gid: number } | undefined> {
    const caps = await this.run(['capabilities'], 'reading the capabilities', signal);
    const label = new RegExp(`<baselabel type=["']${type}["']>\\+?(\\d+):\\+?(\\d+)</baselabel>`).exec(caps);
    return label ? { uid: Number(label[1]), gid: Number(label[2]) } : undefined;
  }

  /** `virsh domstats` as a flat key → value map (`block.0.rd.bytes` → `1234`). */
  async domstats(name: string, signal?: AbortSignal): Promise<Record<string, string>> {
    const out = await this.run(['domstats', '--state', '--cpu-total', '--balloon', '--block', '--interface', '--', name], `domstats of ${name}`, signal);
    const stats: Record<string, string> = {};
    for (const line of out.split('\n')) {
      const m = /^\s+([^=\s]+)=(.*)$/.exec(line);
      if (m) stats[m[1]!] = m[2]!;
    }
    return stats;
  }

  /**
   * `snapshot-create-as --atomic`: an internal snapshot of the qcow2 disks, with the memory when the
   * domain runs; `internalDisks` are named explicitly (`--diskspec <disk>,snapshot=internal`), as a
   * `<readonly/>` disk must be (libvirt leaves it out by default, then finds nothing to snapshot).
   */
  async snapshot(name: string, snapshot: string, signal?: AbortSignal, internalDisks: string[] = []): Promise<void> {
    const disks = internalDisks.flatMap((d) => ['--diskspec', `${d},snapshot=internal`]);
    await this.run(['snapshot-create-as', '--domain', name, '--name', snapshot, '--atomic', ...disks], `snapshot ${snapshot} of ${name}`, signal);
  }

  /** The domain's snapshots with their creation times (`snapshot-list`), oldest first. */
  async snapshots(name: string, signal?: AbortSignal): Promise<Array<{ name: string; createdAt: Date }>> {
    const out = await this.run(['snapshot-list', '--domain', name], `listing the snapshots of ${name}`, signal);
    const found: Array<{ name: string; createdAt: Date }> = [];
    for (const line of out.split('\n')) {
      const m = /^\s*(\S+)\s+(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) ([+-]\d\d)(\d\d)\s/.exec(line);
      if (m) found.push({ name: m[1]!, createdAt: new Date(`${m[2]}T${m[3]}${m[4]}:${m[5]}`) });
    }
    return found.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  }

  /** `snapshot-revert`; with `running`, the domain runs afterwards whatever state the snapshot holds. */
  async revertSnapshot(name: string, snapshot: string, running: boolean, signal?: AbortSignal): Promise<void> {
    await this.run(['snapshot-revert', '--domain', name, '--snapshotname', snapshot, ...(running ? ['--running'] : [])], `rollback of ${name} to snapshot ${snapshot}`, signal);
  }

  async deleteSnapshot(name: string, snapshot: string, signal?: AbortSignal): Promise<void> {
    await this.run(['snapshot-delete', '--domain', name, '--snapshotname', snapshot], `deletion of snapshot ${snapshot} of ${name}`, signal);
  }

  async undefineWithSnapshots(name: string, signal?: AbortSignal): Promise<void> {
    await this.run(['undefine', '--snapshots-metadata', '--', name], `undefine of ${name}`, signal);
  }

  async migrate(name: string, destinationUri: string, signal?: AbortSignal): Promise<void> {
    await this.run(['migrate', '--live', '--persistent', '--undefinesource', '--copy-storage-all', '--', name, destinationUri], `migration of ${name} to ${destinationUri}`, signal);
  }

  /** `Using library: libvirt X` and `Running hypervisor: Y`, when virsh answers. */
  async version(signal?: AbortSignal): Promise<{ library?: string; hypervisor?: string }> {
    const result = await runTool(this.program, ['-c', this.uri, 'version'], { signal });
    if (result.exitCode !== 0) return {};
    return {
      library: /Using library:\s*(.+)/.exec(result.stdout)?.[1]?.trim(),
      hypervisor: /Running hypervisor:\s*(.+)/.exec(result.stdout)?.[1]?.trim(),
    };
  }
}

import { OWNER_NAMESPACE, type DomainMetadata } from './model';
import { attrOf, textOf, unesc } from './xml';

/** What RSP reads back from a domain's XML as libvirt reports it. */
export interface DomainFacts {
  type: string;
  memoryBytes?: number;
  cpuShares?: number;
  cpuQuota?: number;
  /** Interface bandwidth (inbound average), bits/s. */
  networkBitsPerSecond?: number;
  rootDisk?: string;
  /** Whether the root disk is attached `<readonly/>` (a read-only root). */
  rootReadOnly: boolean;
  /** Whether it has the vmstate disk `vdb` of a read-only root. */
  stateDisk: boolean;
  consoleLog?: string;
  /** The unix socket of the serial console, when it has one. */
  consoleSocket?: string;
  /** RSP's metadata; absent: not RSP's domain. */
  metadata?: DomainMetadata;
  /** The owner element's text (any prefix bound to `OWNER_NAMESPACE`); absent: made before owners, everyone's. */
  owner?: string;
}

/** The owner element, whatever prefix libvirt keeps for its namespace. */
const OWNER_ELEMENT = new RegExp(`<([A-Za-z_][\\w.-]*):owner\\s+xmlns:\\1=["']${OWNER_NAMESPACE.replace(/[.:]/g, '\\$&')}["']\\s*>([^<]*)</\\1:owner>`);

/** Parses the few facts RSP needs out of libvirt's (canonical) domain XML. */
export function readDomain(xml: string): DomainFacts {
  const memoryKiB = numberOf(textOf(xml, 'memory'));
  const unit = attrOf(xml, 'memory', 'unit') ?? 'KiB';
  const period = numberOf(textOf(xml, 'global_period'));
  const quota = numberOf(textOf(xml, 'global_quota'));
  const average = numberOf(/<inbound\s[^>]*\baverage=["'](\d+)["']/.exec(xml)?.[1]);
  const meta = /<rsp:environment\b[^>]*>([\s\S]*?)<\/rsp:environment>/.exec(xml)?.[1];
  let metadata: DomainMetadata | undefined;
  if (meta !== undefined) {
    try {
      metadata = JSON.parse(unesc(meta)) as DomainMetadata;
    } catch {
      metadata = undefined;
    }
  }
  return {
    type: /<domain\s[^>]*\btype=["']([^"']+)["']/.exec(xml)?.[1] ?? 'unknown',
    memoryBytes: memoryKiB === undefined ? undefined : memoryKiB * (unit === 'KiB' ? 1024 : unit === 'MiB' ? 1024 * 1024 : 1),
    cpuShares: numberOf(textOf(xml, 'shares')),
    cpuQuota: period && quota && quota > 0 ? quota / period : undefined,
    networkBitsPerSecond: average === undefined ? undefined : average * 1024 * 8,
    rootDisk: attrOf(xml, 'source', 'file'),
    stateDisk: /<target\s[^>]*\bdev=["']vdb["']/.test(xml),
    rootReadOnly: /<disk\b[^>]*\bdevice=["']disk["'][^>]*>(?:(?!<\/disk>)[\s\S])*<readonly\/>/.test(xml),
    consoleLog: attrOf(xml, 'log', 'file'),
    consoleSocket: optional(/<serial\s[^>]*\btype=["']unix["'][^>]*>[\s\S]*?<source\b[^>]*\bpath=["']([^"']+)["']/.exec(xml)?.[1], unesc),
    metadata,
    owner: optional(OWNER_ELEMENT.exec(xml)?.[2], unesc),
  };
}

function numberOf(text: string | undefined): number | undefined {
  if (text === undefined || !/^-?\d+$/.test(text.trim())) return undefined;
  return Number(text);
}

function optional(text: string | undefined, map: (t: string) => string): string | undefined {
  return text === undefined ? undefined : map(text);
}

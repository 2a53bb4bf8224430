import { humanBitsPerSecond, humanBytes } from '../cli/output';
import type { ResourceEntity } from '../persistence/entities';
import { driverLines } from './driver-remedies';
import type { SetupImages, SetupOutcome } from './machine-setup';

/** First line of what `rsp serve` prints of the set-up it made. */
export const FIRST_START_HEADING = 'This machine is set up (first start; RSP_BOOTSTRAP=off or --no-bootstrap turns this off):';

/** What a start's set-up did and which drivers are usable, as the lines `rsp serve` and `rsp init` print (indented by two). */
export function setupLines(outcome: SetupOutcome, heading = FIRST_START_HEADING): string[] {
  const lines: string[] = [];
  if (outcome.ran && outcome.group && outcome.site && outcome.host) {
    lines.push(
      heading,
      `  group  ${outcome.group.slug} (${outcome.group.id}), owns the site and the host`,
      `  site   ${outcome.site.name} (${outcome.site.id})`,
      `  host   ${outcome.host.hostname} (${outcome.host.id}), agent ${outcome.host.agent}, technologies: ${outcome.host.drivers.join(', ') || 'none'}`,
      `  resources  ${outcome.resources.map(resourceText).join(', ') || 'none'}`,
      `  image  ${outcome.record?.image ? 'busybox: being prepared in the background (the log says when it is ready)' : 'none (turned off)'}`,
    );
  }
  return [...lines, ...driverLines(outcome.drivers)].map((l) => `  ${l}`);
}

/** The line that says how the image step ended. */
export function imagesLine(images: SetupImages): string {
  if (images.images.length) return `  First start: image ${images.images[0]!.name}:${images.images[0]!.version} ready: ${images.images.map((i) => `${i.id} (${i.technology})`).join(', ')}`;
  return `  First start: no busybox image — ${images.skipped ?? 'none prepared'}`;
}

function resourceText(r: ResourceEntity): string {
  const total = Number(r.total);
  const amount = r.unit === 'BYTES' ? humanBytes(total) : r.unit === 'BITS_PER_SECOND' ? humanBitsPerSecond(total) : `${total}`;
  return `${r.type} ${amount}`;
}

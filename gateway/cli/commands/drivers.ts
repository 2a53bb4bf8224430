import type { Command } from 'commander';
import { DriversDocument } from '../../../client/generated/graphql';
import { emit, table } from '../output';
import { contextOf } from './context';

/** `rsp drivers`: what a host's (default: the gateway's) driver probes found. */
export function registerDrivers(program: Command): void {
  program
    .command('drivers')
    .description("virtualization drivers, whether they work and the image formats they take (default: the gateway's own host; --json: their operations, limits and features too)")
    .option('--host <id>', 'the host')
    .action(async (opts: { host?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { drivers } = await ctx.client.request(DriversDocument, { hostId: opts.host ?? null });
      emit(ctx.json, drivers, () =>
        table(drivers, [
          { header: 'NAME', value: (d) => d.name },
          { header: 'TECHNOLOGY', value: (d) => d.technology },
          { header: 'AVAILABLE', value: (d) => (d.available ? 'yes' : 'no') },
          { header: 'VERSION', value: (d) => d.version },
          { header: 'IMAGE FORMATS', value: (d) => d.imageFormats.join(',') },
          { header: 'REASON', value: (d) => d.reason },
        ]),
      );
    });
}

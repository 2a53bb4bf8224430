import { BadInputError, defineDriverPlugin, OPTIONAL_CAPABILITIES, type OptionalCapability } from '@rsp/sdk';
import { FakeDriver } from '@rsp/sdk/fake';

/**
 * An example driver plugin: "sandbox", in-process environments for demos and trials, built on the
 * SDK's in-memory reference driver with its own technology name, a capacity of its own and no
 * live migration. It is a package of its own that depends on `@rsp/sdk` only.
 *
 * Options: `name` (registry name, default `sandbox`), `memoryBytes` and `cpus` (the most one
 * sandbox may get; default 2 GiB and 2 CPUs).
 *
 * ```sh
 * RSP_PLUGINS=./plugins/examples/sandbox-driver npm start   # npm start builds the packages too
 * ```
 */
export default defineDriverPlugin({
  name: 'rsp-example-sandbox',
  description: 'In-process sandboxes (demo driver built on the fake engine)',
  createDriver({ options }) {
    const memoryBytes = positive(options.memoryBytes, 2 * 1024 ** 3, 'memoryBytes');
    const cpus = positive(options.cpus, 2, 'cpus');
    const operations: OptionalCapability[] = OPTIONAL_CAPABILITIES.filter((op) => op !== 'migrate');
    return new FakeDriver({
      name: typeof options.name === 'string' ? options.name : 'sandbox',
      technology: 'sandbox',
      version: '1.0.0',
      host: { cpus, memoryBytes, kernel: 'sandbox' },
      capacity: { cpus, memoryBytes, diskBytes: 10 * 1024 ** 3, pids: 1024 },
      operations,
    });
  },
});

function positive(value: unknown, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0)) throw new BadInputError(`option ${name} must be a positive number (got ${JSON.stringify(value)})`);
  return value;
}

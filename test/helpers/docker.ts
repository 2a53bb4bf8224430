import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageRef } from '../../drivers/contract';
import { createDockerDriver, type DockerDriver } from '../../drivers/docker';
import { importBusyboxImage } from '../fixtures/busybox-rootfs';

/**
 * A Docker driver on the real engine for a test file (or the conformance suite): a private state
 * directory and the busybox image imported. `cleanup()` destroys the environments listed in `ids`
 * it is given and removes the image and the directory; it never touches other containers.
 *
 * ```ts
 * describeWithEngine('docker', 'conformance: docker', () => {
 *   let setup: DockerTestSetup;
 *   beforeAll(async () => { setup = await dockerDriverForTests(); });
 *   afterAll(() => setup.cleanup());
 * });
 * ```
 */
export interface DockerTestSetup {
  driver: DockerDriver;
  image: ImageRef;
  /** Scratch directory for volumes. */
  dir: string;
  cleanup(ids?: Iterable<string>): Promise<void>;
}

export async function dockerDriverForTests(options: { owner?: string } = {}): Promise<DockerTestSetup> {
  const dir = await mkdtemp(join(tmpdir(), 'rsp-docker-test-'));
  const driver = createDockerDriver({ stateDir: join(dir, 'state'), owner: options.owner });
  const image = await importBusyboxImage(driver);
  return {
    driver,
    image,
    dir,
    async cleanup(ids = []) {
      for (const id of ids) await driver.destroy(id).catch(() => undefined);
      await driver.engine.getImage(image.ref).remove().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runConformanceSuite } from '../../drivers/conformance';
import { createDockerDriver } from '../../drivers/docker';
import { dockerDriverForTests, type DockerTestSetup } from '../helpers/docker';
import { describeWithEngine } from '../helpers/engines';

/** An image id no engine has: create fails at its last step (the container), after the config files are written. */
const MISSING_IMAGE = { ref: `sha256:${'0'.repeat(64)}` };

/** Cleans up a test driver: the suite's importImage round trip leaves an image (`<repository>:rspconf-image-1`); containers are gone by now. */
async function cleanupOf(setup: DockerTestSetup): Promise<void> {
  const left = await setup.driver.engine.listImages({ filters: { reference: [`${setup.driver.config.imageRepository}:rspconf-image-*`] } });
  for (const image of left) await setup.driver.engine.getImage(image.Id).remove().catch(() => undefined);
  await setup.cleanup();
}

/** The shared driver conformance suite against the Docker driver on the real engine (as an installation's, with an owner). */
describeWithEngine('docker', 'conformance: docker on a real engine', () => {
  runConformanceSuite('docker', async () => {
    const setup = await dockerDriverForTests({ owner: `rspconf-${randomBytes(4).toString('hex')}` });
    return { driver: setup.driver, image: setup.image, cleanup: () => cleanupOf(setup) };
  }, {
    timeoutMs: 60_000,
    setupTimeoutMs: 120_000,
    limits: { memoryBytes: 64 * 1024 * 1024, pids: 64, cpuQuota: 0.5, cpuWeight: 50 },
    // Another installation on the same engine.
    makeNeighbour: async () => {
      const setup = await dockerDriverForTests({ owner: `rspconf-${randomBytes(4).toString('hex')}` });
      return { driver: setup.driver, image: setup.image, cleanup: () => cleanupOf(setup) };
    },
    makeFailingDriver: async () => {
      const dir = await mkdtemp(join(tmpdir(), 'rsp-docker-failing-'));
      return { driver: createDockerDriver({ stateDir: dir }), image: MISSING_IMAGE, cleanup: () => rm(dir, { recursive: true, force: true }) };
    },
  });
});

import { rmSync } from 'node:fs';

/** Once at the end of a run: removes the run's PGlite template folder (made by the global setup). */
export default async function globalTeardown(): Promise<void> {
  const templates = process.env.RSP_TEST_PGLITE_TEMPLATE_DIR;
  if (templates) rmSync(templates, { recursive: true, force: true });
}

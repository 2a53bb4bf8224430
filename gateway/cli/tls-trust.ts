import { readFileSync } from 'node:fs';
import * as tls from 'node:tls';
import { CliError, ExitCode } from './exit-codes';

/**
 * Trusts the CA certificates of a PEM file, besides the system's, for every https:// request and
 * wss:// socket this process makes (`--ca`, RSP_CA_FILE): a gateway whose certificate a private CA
 * signed. A file that cannot be read or holds no certificate is a usage error.
 */
export function trustCaFile(path: string): void {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CliError(`--ca: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'BAD_USAGE', ExitCode.BAD_USAGE);
  }
  const certificates = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!certificates) throw new CliError(`--ca: ${path} holds no PEM certificate`, 'BAD_USAGE', ExitCode.BAD_USAGE);
  // Both arrived in Node.js 22.19 / 24.5 (the types here may be older).
  const { setDefaultCACertificates: setDefault, getCACertificates } = tls as { setDefaultCACertificates?: (certs: string[]) => void; getCACertificates?: (kind: 'default') => string[] };
  if (!setDefault || !getCACertificates) throw new CliError(`--ca needs Node.js 22.19 or later; on this one set NODE_EXTRA_CA_CERTS=${path} instead`, 'BAD_USAGE', ExitCode.BAD_USAGE);
  try {
    setDefault.call(tls, [...getCACertificates.call(tls, 'default'), ...certificates]);
  } catch (e) {
    throw new CliError(`--ca: ${path}: ${(e as Error).message}`, 'BAD_USAGE', ExitCode.BAD_USAGE);
  }
}

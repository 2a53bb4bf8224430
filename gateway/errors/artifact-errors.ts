import { RspError } from './rsp-error';

/**
 * Stored bits do not match their checksum: a chunk is missing, altered or does not decrypt, or a
 * manifest is damaged. GraphQL code `INTEGRITY_ERROR`; the message names the artifact and the
 * bad chunk.
 */
export class IntegrityError extends RspError {
  constructor(
    readonly manifestId: string,
    readonly chunk: string | undefined,
    readonly reason: string,
    details: Record<string, unknown> = {},
  ) {
    super(
      'INTEGRITY_ERROR',
      chunk ? `Artifact ${manifestId}: chunk ${chunk} is damaged: ${reason}` : `Artifact ${manifestId} is damaged: ${reason}`,
      { manifestId, ...(chunk ? { chunk } : {}), reason, ...details },
    );
  }
}

/** An encrypted artifact was opened without its key or with another key (BAD_USER_INPUT). */
export class ArtifactKeyError extends RspError {
  constructor(manifestId: string, problem: string, details: Record<string, unknown> = {}) {
    super('BAD_USER_INPUT', `Artifact ${manifestId}: ${problem}`, { manifestId, ...details });
  }
}

/**
 * Exit codes scripts can rely on, and the error the CLI commands raise. A GraphQL error's
 * `extensions.code` picks the exit code, so `rsp … || case $? in 4) …` works the same for
 * every command.
 */
export const ExitCode = {
  OK: 0,
  /** The gateway refused or the work failed (CONFLICT, an operation that FAILED…). */
  FAILURE: 1,
  /** Bad usage: unknown command or option, missing URL or config, input the gateway rejected. */
  BAD_USAGE: 2,
  /** The gateway (or something it needs) cannot be reached or timed out. */
  UNAVAILABLE: 3,
  /** The thing does not exist, or the token may not see it, or there is no valid token. */
  NOT_FOUND_OR_DENIED: 4,
} as const;

/** The exit code for a GraphQL error code. */
export function exitCodeFor(code: string | undefined): number {
  switch (code) {
    case 'NOT_FOUND':
    case 'FORBIDDEN':
    case 'UNAUTHENTICATED':
      return ExitCode.NOT_FOUND_OR_DENIED;
    case 'UNAVAILABLE':
    case 'TIMEOUT':
      return ExitCode.UNAVAILABLE;
    case 'BAD_USER_INPUT':
    case 'BAD_USAGE':
    case 'GRAPHQL_VALIDATION_FAILED':
      return ExitCode.BAD_USAGE;
    default:
      return ExitCode.FAILURE;
  }
}

/** An error a command reports to a person: its message and code, never a stack. */
export class CliError extends Error {
  readonly code: string | undefined;
  readonly exitCode: number;

  constructor(message: string, code?: string, exitCode = exitCodeFor(code)) {
    super(message);
    this.name = 'CliError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** The help text that documents the exit codes. */
export const EXIT_CODES_HELP = `
Exit codes:
  0  ok
  1  failure (the gateway refused, e.g. CONFLICT, or an operation FAILED)
  2  bad usage or configuration (unknown option, no gateway URL, BAD_USER_INPUT)
  3  unavailable (the gateway cannot be reached, UNAVAILABLE, TIMEOUT)
  4  not found, forbidden or unauthenticated (NOT_FOUND, FORBIDDEN, UNAUTHENTICATED)

Connection: --url/--token, else RSP_URL/RSP_TOKEN, else the file written by "rsp login"
(~/.config/rsp/config.json, or RSP_CLI_CONFIG).`;

/** What a person can do about a connection failure, by its system or TLS code. */
const UNREACHABLE_HINTS: Record<string, string> = {
  ECONNREFUSED: 'nothing listens there: is rsp serve running, on this address and port?',
  ENOTFOUND: 'no such host name',
  EAI_AGAIN: 'the host name could not be resolved now (DNS)',
  ETIMEDOUT: 'no answer: a firewall, or the wrong address?',
  UND_ERR_CONNECT_TIMEOUT: 'no answer: a firewall, or the wrong address?',
  ERR_SSL_WRONG_VERSION_NUMBER: 'the gateway there answers plain HTTP: use http://, or serve TLS with rsp serve --tls-cert F --tls-key F',
  ERR_SSL_PACKET_LENGTH_TOO_LONG: 'the gateway there answers plain HTTP: use http://, or serve TLS with rsp serve --tls-cert F --tls-key F',
  SELF_SIGNED_CERT_IN_CHAIN: 'trust its certificate with --ca <file> or RSP_CA_FILE',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'trust its certificate with --ca <file> or RSP_CA_FILE',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'trust its CA with --ca <file> or RSP_CA_FILE',
};

/** The error of a gateway that cannot be reached (exit 3): the URL, the system's code and, when known, what to check. */
export function unreachable(url: string, cause: string): CliError {
  const hint = UNREACHABLE_HINTS[cause];
  return new CliError(`cannot reach the gateway at ${url}: ${cause}${hint ? ` (${hint})` : ''}`, 'UNAVAILABLE', ExitCode.UNAVAILABLE);
}


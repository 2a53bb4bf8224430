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

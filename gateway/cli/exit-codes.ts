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

/** What a person can do about a connection failure, by its system, TLS or HTTP-client code. */
const UNREACHABLE_HINTS: Record<string, string> = {
  ECONNREFUSED: 'nothing listens there: is rsp serve running, on this address and port?',
  ECONNRESET: 'the connection was cut: is it a gateway there, and http:// or https:// as it serves?',
  UND_ERR_SOCKET: 'the connection was closed before an answer: is it a gateway there, and http:// or https:// as it serves?',
  ENOTFOUND: 'no such host name: check the spelling, or give its address',
  EAI_AGAIN: 'the host name could not be resolved now (DNS)',
  EHOSTUNREACH: 'no route to that host: check the address and the network',
  ENETUNREACH: 'no route to that network: check the address and the network',
  ETIMEDOUT: 'no answer: a firewall, or the wrong address?',
  UND_ERR_CONNECT_TIMEOUT: 'no answer: a firewall, or the wrong address?',
  UND_ERR_HEADERS_TIMEOUT: 'it accepted the connection but never answered: is it a gateway there?',
  HPE_INVALID_CONSTANT: 'what answers there does not speak HTTP: check the address and port, as rsp serve printed them',
  ERR_SSL_WRONG_VERSION_NUMBER: 'the gateway there answers plain HTTP: use http://, or serve TLS with rsp serve --tls-cert F --tls-key F',
  ERR_SSL_PACKET_LENGTH_TOO_LONG: 'the gateway there answers plain HTTP: use http://, or serve TLS with rsp serve --tls-cert F --tls-key F',
  SELF_SIGNED_CERT_IN_CHAIN: 'trust its certificate with --ca <file> or RSP_CA_FILE',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'trust its certificate with --ca <file> or RSP_CA_FILE',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'trust its CA with --ca <file> or RSP_CA_FILE',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'trust its CA with --ca <file> or RSP_CA_FILE',
  CERT_HAS_EXPIRED: "its certificate has expired: the gateway's admin renews it (then kill -HUP the gateway)",
  ERR_TLS_CERT_ALTNAME_INVALID: 'its certificate is not made for this name: use the host name or address the certificate names',
};

/** The hint of a cause no code names: fetch's blocked ports ("bad port"), whatever else it says. */
function hintOf(url: string, cause: string): string {
  const known = UNREACHABLE_HINTS[cause] ?? (cause.startsWith('HPE_') ? UNREACHABLE_HINTS.HPE_INVALID_CONSTANT : undefined);
  if (known) return known;
  if (cause === 'bad port') {
    const port = new URL(url).port;
    return `fetch never connects to port ${port}, a blocked port as in browsers: use the gateway's port, the one rsp serve printed; 4000 unless PORT or --port changed it`;
  }
  return 'check the URL (--url, RSP_URL or the one rsp login saved) and that rsp serve runs there';
}

/**
 * The error of a gateway that cannot be reached (exit 3), on one line: the URL, the system's code
 * (or the first line of the message when there is none) and what to check.
 */
export function unreachable(url: string, cause: string): CliError {
  const firstLine = cause.split('\n')[0]!.trim() || 'connection failed';
  return new CliError(`cannot reach the gateway at ${url}: ${firstLine} (${hintOf(url, firstLine)})`, 'UNAVAILABLE', ExitCode.UNAVAILABLE);
}

/**
 * The error of a URL where something answers that is not an RSP gateway (exit 3), on one line:
 * an HTML page, a 404, JSON that is no GraphQL answer. `what` is the request (`POST /graphql`),
 * `contentType` the answer's.
 */
export function notAGateway(url: string, what: string, status: number, contentType: string | null): CliError {
  const kind = contentType ? contentType.split(';')[0]!.trim() : 'no content type';
  // A proxy's error page: the gateway behind it, not the URL, is what to check.
  if (status === 502 || status === 503 || status === 504) return new CliError(`${url} answered ${what} with HTTP ${status} (${kind}), not GraphQL: a proxy in front of a gateway that is down or starting? Check rsp serve runs behind it`, 'UNAVAILABLE', ExitCode.UNAVAILABLE);
  return new CliError(`${url} does not answer as an RSP gateway: ${what} got HTTP ${status} (${kind}); check the URL (--url, RSP_URL or the one rsp login saved): the gateway's base URL, as rsp serve printed it, e.g. http://127.0.0.1:4000`, 'UNAVAILABLE', ExitCode.UNAVAILABLE);
}

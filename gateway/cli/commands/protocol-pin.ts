import type { ProtocolRange } from '../../agent/protocol';
import { CliError, ExitCode } from '../exit-codes';

/**
 * A one-version pin of the agent protocol, for tests only, from the environment variable `name`:
 * `RSP_TEST_AGENT_PROTOCOL` (the one version `rsp agent` announces) or `RSP_TEST_GATEWAY_PROTOCOL`
 * (the one version `rsp serve` speaks with agents and other replicas), e.g. N−1, so a test runs
 * an agent or a gateway replica of an older protocol beside this one. The code stays this
 * version's; only the protocol it speaks, and so what the other side sends it, changes. Undefined
 * when the variable is unset or empty.
 */
export function testProtocolPin(name: 'RSP_TEST_AGENT_PROTOCOL' | 'RSP_TEST_GATEWAY_PROTOCOL'): ProtocolRange | undefined {
  const value = process.env[name];
  if (!value) return undefined;
  const version = Number(value);
  if (!Number.isInteger(version) || version < 1) throw new CliError(`${name}: "${value}" is not a protocol version`, 'BAD_USAGE', ExitCode.BAD_USAGE);
  return { oldest: version, newest: version };
}

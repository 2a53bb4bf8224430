import { openExecSession, type ExecSession } from '../../gateway/cli/exec-client';
import type { ExecStart } from '../../gateway/server/exec-protocol';

/** One step of a scripted session: text (or an action) sent once the output so far matches the pattern, or at once when there is none. */
export type ExecScriptStep = [RegExp | null, string | ((session: ExecSession) => void)];

/** What a session printed and how it ended. */
export interface Ran {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * Runs a session on the gateway at `gatewayUrl` as `token`: sends each step of `input` in turn,
 * closes stdin when `eof`, and waits for the exit (a refusal or an error frame rejects).
 */
export async function runExecScript(gatewayUrl: string, token: string | undefined, start: ExecStart, input: ExecScriptStep[], eof = true): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  let changed: () => void = () => undefined;
  const session = openExecSession(gatewayUrl, token, start, (b) => ((stdout += b.toString('utf8')), changed()), (b) => ((stderr += b.toString('utf8')), changed()));
  for (const [after, text] of input) {
    if (after) await new Promise<void>((resolve, reject) => {
      changed = () => after.test(stdout) && resolve();
      changed();
      session.exit.catch(reject);
    });
    if (typeof text === 'function') text(session);
    else session.write(text);
  }
  if (eof) session.end();
  const exitCode = await session.exit;
  return { stdout, stderr, exitCode };
}

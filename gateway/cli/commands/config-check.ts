import type { Command } from 'commander';
import { inspectConfig, maskedValue, problemLine, SettingKey, SettingSource, settingInfo, unknownVariables } from '../../config/config';
import { CliError, ExitCode } from '../exit-codes';
import { emit, table } from '../output';
import { addServeOptions, ServeOptions, serveOverrides } from '../serve-options';

/** One line of `rsp config check`: a setting's effective value (secrets masked) and where it came from. */
interface CheckedSetting {
  key: SettingKey;
  variable: string;
  value: unknown;
  source: SettingSource;
}

/**
 * `rsp config check`: validates the environment and the config file (RSP_CONFIG) as `rsp serve`
 * would, TLS files and the ports it would listen on (PORT, RSP_HEALTH_PORT: free, and who holds
 * one that is not) included, without starting anything or opening the database; prints each
 * setting's effective value and origin, or every problem (exit 2), variables named RSP_… that RSP
 * does not read among them.
 */
export function registerConfig(program: Command): void {
  const config = program.command('config').description('the gateway configuration (environment variables and the RSP_CONFIG file)');
  const check = config
    .command('check')
    .description('validate the configuration as rsp serve would (with the same options), without starting anything; print each setting, its value and where it came from (exit 2 naming every problem)');
  addServeOptions(check).action(async (opts: ServeOptions, cmd: Command) => {
    const json = !!cmd.optsWithGlobals<{ json?: boolean }>().json;
    const inspection = inspectConfig(process.env, serveOverrides(opts));
    // A variable RSP does not read is most often a misspelt setting: rsp serve warns, the check fails.
    const problems = [...inspection.problems, ...unknownVariables(process.env)];
    if (inspection.config) {
      // Loaded only here: the other client commands start faster without the server's modules.
      const [{ certificateProblems }, { listenPortProblems }] = await Promise.all([import('../../server/tls.js'), import('../../server/port-problems.js')]);
      problems.push(...certificateProblems(inspection.config));
      // The ports rsp serve would listen on, each taken for a moment and let go.
      problems.push(...(await listenPortProblems(inspection.config)));
    }
    const file = process.env.RSP_CONFIG || null;
    if (problems.length) {
      if (json) emit(true, { valid: false, file, problems }, () => '');
      throw new CliError(`invalid configuration${file ? ` (config file ${file})` : ''}:\n${problems.map(problemLine).join('\n')}`, undefined, ExitCode.BAD_USAGE);
    }
    const values = inspection.config as unknown as Record<string, unknown>;
    const settings: CheckedSetting[] = inspection.origins.map((o) => ({ key: o.key, variable: o.variable, value: maskedValue(o.key, values[o.key]) ?? null, source: o.source }));
    emit(json, { valid: true, file, settings }, () => `${table(settings, [
      { header: 'VARIABLE', value: (s) => s.variable },
      { header: 'VALUE', value: (s) => s.value ?? unsetText(s.key) },
      { header: 'FROM', value: (s) => (s.source === 'file' ? `file ${file}` : s.source === 'option' ? 'command line' : s.source) },
    ])}configuration valid${file ? ` (config file ${file})` : ''}\n`);
  });
}

/** What an unset setting means, from the README table's default (`-` when nothing). */
function unsetText(key: SettingKey): string | null {
  const shown = settingInfo(key).shown.replace(/`/g, '').replace(/^— ?/, '');
  return shown ? `(unset: ${shown})` : null;
}

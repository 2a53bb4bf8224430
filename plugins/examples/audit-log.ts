import { appendFile } from 'node:fs/promises';
import { defineGatewayPlugin, type GatewayPlugin, type ResponseInfo } from '../api';

/** One line of the audit log: a mutation and how it ended. */
export interface AuditEntry {
  at: string;
  operationName: string | null;
  requestId?: string;
  ok: boolean;
  errorCodes: string[];
  durationMs: number;
}

/**
 * An example gateway plugin: an audit log of mutations. Each mutation answered is written as one
 * JSON line to the file named by the `file` option (appended), and kept in memory (the last 1000)
 * for `entries()`.
 *
 * ```sh
 * RSP_PLUGINS=./dist/plugins/examples/audit-log.js npm start
 * ```
 */
export function createAuditLog(file?: string): GatewayPlugin & { entries(): AuditEntry[] } {
  const kept: AuditEntry[] = [];
  const record = async (info: ResponseInfo): Promise<void> => {
    if (info.operationType !== 'mutation') return;
    const context = info.context as { requestId?: unknown } | undefined;
    const entry: AuditEntry = {
      at: new Date().toISOString(),
      operationName: info.operationName ?? null,
      requestId: typeof context?.requestId === 'string' ? context.requestId : undefined,
      ok: info.errors.length === 0,
      errorCodes: info.errors.map((e) => String(e.extensions?.code ?? 'INTERNAL_SERVER_ERROR')),
      durationMs: Math.round(info.durationMs * 10) / 10,
    };
    kept.push(entry);
    if (kept.length > 1000) kept.shift();
    if (file) await appendFile(file, `${JSON.stringify(entry)}\n`);
  };
  return { name: 'audit-log', onResponse: record, entries: () => [...kept] };
}

/** The plugin manifest; option `file`: the JSON-lines file to append to. */
export default defineGatewayPlugin({
  name: 'rsp-example-audit-log',
  description: 'Writes every mutation, its outcome and duration to a JSON-lines file',
  createPlugin({ options }) {
    return createAuditLog(typeof options.file === 'string' ? options.file : undefined);
  },
});

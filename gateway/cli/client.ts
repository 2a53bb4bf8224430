import { openAsBlob } from 'node:fs';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import type { Connection } from './config';
import { CliError, ExitCode } from './exit-codes';

/** An operation as the CLI reads it. */
export interface Operation {
  id: string;
  kind: string;
  state: 'PENDING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
  progress: number;
  message: string | null;
  error: { code: string; message: string } | null;
}

/** The fields of an operation every command asks for. */
export const OPERATION_FIELDS = 'id kind state progress message error { code message }';

const FINISHED = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

/** Whether an operation has ended, one way or another. */
export function isFinished(op: Operation): boolean {
  return FINISHED.has(op.state);
}

interface GraphQLBody<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

/** Talks to one gateway: GraphQL over HTTP, image uploads, operations followed over graphql-ws. */
export class GatewayClient {
  constructor(readonly connection: Connection) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...extra, ...(this.connection.token ? { authorization: `Bearer ${this.connection.token}` } : {}) };
  }

  private async send(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, init);
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(`cannot reach the gateway at ${this.connection.url}: ${cause?.code ?? cause?.message ?? (e as Error).message}`, 'UNAVAILABLE', ExitCode.UNAVAILABLE);
    }
  }

  /** Runs a query or mutation; the first GraphQL error becomes a CliError with its code. */
  async request<T = Record<string, any>>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const res = await this.send(`${this.connection.url}/graphql`, {
      method: 'POST',
      headers: this.headers({ 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' }),
      // Unset filters are left out rather than sent as null: an absent argument is "no filter".
      body: JSON.stringify({ query, variables: Object.fromEntries(Object.entries(variables).filter(([, v]) => v !== null && v !== undefined)) }),
    });
    const body = await readJson<GraphQLBody<T>>(res);
    const first = body.errors?.[0];
    if (first) throw new CliError(first.message, first.extensions?.code ?? 'FAILURE');
    if (!res.ok || !body.data) throw new CliError(`the gateway answered HTTP ${res.status}`, res.status >= 500 ? 'UNAVAILABLE' : 'FAILURE');
    return body.data;
  }

  /** Uploads an image's root filesystem tarball (`PUT /images/:id/content`), streamed from disk. */
  async uploadImage(imageId: string, tarPath: string): Promise<{ id: string; digest: string; sizeBytes: number }> {
    let blob: Blob;
    try {
      blob = await openAsBlob(tarPath);
    } catch (e) {
      throw new CliError(`cannot read ${tarPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'BAD_USAGE', ExitCode.BAD_USAGE);
    }
    const res = await this.send(`${this.connection.url}/images/${encodeURIComponent(imageId)}/content`, {
      method: 'PUT',
      headers: this.headers({ 'content-type': 'application/x-tar' }),
      body: blob,
    });
    const body = await readJson<GraphQLBody<never> & { id: string; digest: string; sizeBytes: number }>(res);
    const first = body.errors?.[0];
    if (first) throw new CliError(first.message, first.extensions?.code ?? 'FAILURE');
    if (!res.ok) throw new CliError(`upload failed: HTTP ${res.status}`, res.status >= 500 ? 'UNAVAILABLE' : 'FAILURE');
    return body;
  }

  /**
   * Follows an operation until it ends, calling `onUpdate` with every change from the
   * `operationUpdated` subscription. It also asks for the operation right after subscribing
   * (it may have ended already) and every few seconds (a missed event must not hang the CLI).
   */
  async followOperation(id: string, onUpdate: (op: Operation) => void = () => undefined): Promise<Operation> {
    const wsUrl = `${this.connection.url.replace(/^http/, 'ws')}/graphql`;
    const ws = createClient({
      url: wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: this.connection.token ? { authorization: `Bearer ${this.connection.token}` } : {},
      retryAttempts: 3,
      lazy: true,
    });
    try {
      return await new Promise<Operation>((resolve, reject) => {
        let done = false;
        const seen = (op: Operation) => {
          if (done) return;
          onUpdate(op);
          if (isFinished(op)) {
            done = true;
            clearInterval(poll);
            unsubscribe();
            resolve(op);
          }
        };
        const check = () =>
          this.request<{ operation: Operation }>(`query ($id: ID!) { operation(id: $id) { ${OPERATION_FIELDS} } }`, { id }).then(
            (d) => seen(d.operation),
            (e) => {
              if (done) return;
              done = true;
              clearInterval(poll);
              unsubscribe();
              reject(e);
            },
          );
        const poll = setInterval(check, 2000);
        const unsubscribe = ws.subscribe<{ operationUpdated: Operation }>(
          { query: `subscription ($id: ID) { operationUpdated(id: $id) { ${OPERATION_FIELDS} } }`, variables: { id } },
          {
            next: (value) => {
              if (value.data?.operationUpdated) seen(value.data.operationUpdated);
            },
            // The subscription is a shortcut; polling still finishes the job when it breaks.
            error: () => undefined,
            complete: () => undefined,
          },
        );
        ws.on('connected', () => setTimeout(check, 50));
        // A gateway without WebSocket still answers the first poll quickly.
        setTimeout(check, 500);
      });
    } finally {
      await ws.dispose();
    }
  }
}

async function readJson<T>(res: Response): Promise<T> {
  const text = await res.text();
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new CliError(`the gateway answered HTTP ${res.status} with something that is not JSON: ${text.slice(0, 200)}`, res.status >= 500 ? 'UNAVAILABLE' : 'FAILURE');
  }
}

import { openAsBlob } from 'node:fs';
import { Client as WsClient, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { OperationDocument, OperationFieldsFragment, OperationUpdatedDocument, OperationUpdatedSubscription, TypedDocumentString } from '../../client/generated/graphql';
import type { Connection } from './config';
import { CliError, ExitCode, notAGateway, unreachable } from './exit-codes';
import { printable } from './output';

/** An operation as the CLI reads it (the shared OperationFields fragment). */
export type Operation = OperationFieldsFragment;

/** The variables of a document: may be left out when it declares none or only optional ones. */
export type VariablesOf<V> = Record<string, never> extends V ? [variables?: V] : [variables: V];

const FINISHED = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

/** Whether an operation has ended, one way or another. */
export function isFinished(op: Operation): boolean {
  return FINISHED.has(op.state);
}

/** How far along its life a state is: PENDING, then RUNNING, then an end. */
function lifeStage(state: Operation['state']): number {
  return state === 'PENDING' ? 0 : state === 'RUNNING' ? 1 : 2;
}

/**
 * What to show of an operation after `shown` when `next` arrives (from the subscription or a
 * poll, in any order): never an earlier state or an older `updatedAt` than what was shown (an
 * older stored row answered after a newer event, or one of the same time that lags it), never
 * less progress while the state is the same, and the first end it reached. Returns `shown` itself when `next` brings nothing newer.
 */
export function mergeOperation(shown: Operation | undefined, next: Operation): Operation {
  if (!shown) return next;
  const from = lifeStage(shown.state);
  const to = lifeStage(next.state);
  if (to !== from) return to > from ? next : shown;
  if (isFinished(shown) || Date.parse(next.updatedAt) < Date.parse(shown.updatedAt)) return shown;
  // Progress is published at once and stored later, under the same updatedAt: a polled row of that
  // time with less progress, or without the message an event brought, is the older of the two.
  if (Date.parse(next.updatedAt) === Date.parse(shown.updatedAt) && (next.progress < shown.progress || (next.message == null && shown.message != null))) return shown;
  return next.progress < shown.progress ? { ...next, progress: shown.progress } : next;
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

  /**
   * The CliError of a GraphQL error the gateway answered; a refused token says how to give one
   * (`--token`, `RSP_TOKEN`, `rsp login`) and a name given for an id where the ids are, which the
   * gateway's message cannot.
   */
  private answered(answer: { message: string; extensions?: { code?: string } }): CliError {
    const error = fromGateway(answer);
    const code = error.extensions?.code ?? 'FAILURE';
    // A name given where an id is asked (rsp env start web): where the ids are.
    if (code === 'BAD_USER_INPUT' && error.message.startsWith('Not an id:')) return new CliError(`${error.message}: give the id, not the name (the list commands show them, e.g. rsp env list, rsp image list)`, code);
    if (code !== 'UNAUTHENTICATED') return new CliError(error.message, code);
    const hint = this.connection.token
      ? `check the token given (--token, RSP_TOKEN or the one rsp login saved) is one of ${this.connection.url}'s, or make a new one (rsp token create)`
      : 'give a token: --token rsp_…, RSP_TOKEN, or rsp login once (rsp init or the first rsp serve printed the site admin\'s)';
    return new CliError(`${error.message}: ${hint}`, code);
  }

  private async send(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, init);
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw unreachable(this.connection.url, cause?.code ?? cause?.message ?? (e as Error).message);
    }
  }

  /**
   * The JSON of a gateway's answer to `what` (`POST /graphql`): a GraphQL result (`data` or
   * `errors`), or what `expected` accepts. Anything else — an HTML page, a 404, JSON of another
   * kind — is a URL that is no RSP gateway, said on one line (exit 3).
   */
  private async readAnswer<T extends GraphQLBody<unknown>>(res: Response, what: string, expected: (body: T) => boolean = () => false): Promise<T> {
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw notAGateway(this.connection.url, what, res.status, res.headers.get('content-type'));
    }
    const answer = body as T;
    if (!body || typeof body !== 'object' || (!('data' in body) && !Array.isArray(answer.errors) && !expected(answer))) throw notAGateway(this.connection.url, what, res.status, res.headers.get('content-type'));
    return answer;
  }

  /** Runs a generated query or mutation; the first GraphQL error becomes a CliError with its code. */
  async request<T, V>(document: TypedDocumentString<T, V>, ...[variables]: VariablesOf<V>): Promise<T> {
    const res = await this.send(`${this.connection.url}/graphql`, {
      method: 'POST',
      headers: this.headers({ 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' }),
      body: JSON.stringify({ query: document.toString(), variables: presentVariables(variables) }),
    });
    const body = await this.readAnswer<GraphQLBody<T>>(res, 'POST /graphql');
    const first = body.errors?.[0];
    if (first) throw this.answered(first);
    if (!res.ok || !body.data) throw new CliError(`the gateway answered HTTP ${res.status}`, res.status >= 500 ? 'UNAVAILABLE' : 'FAILURE');
    return body.data;
  }

  /** Uploads an image's bits (`PUT /images/:id/content`: a root filesystem tarball or another format a driver takes), streamed from disk. */
  async uploadImage(imageId: string, tarPath: string): Promise<{ id: string; digest: string; sizeBytes: number; format: string | null }> {
    let blob: Blob;
    try {
      blob = await openAsBlob(tarPath);
    } catch (e) {
      throw new CliError(`cannot read ${tarPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'BAD_USAGE', ExitCode.BAD_USAGE);
    }
    const res = await this.send(`${this.connection.url}/images/${encodeURIComponent(imageId)}/content`, {
      method: 'PUT',
      headers: this.headers({ 'content-type': 'application/octet-stream' }),
      body: blob,
    });
    const body = await this.readAnswer<GraphQLBody<never> & { id: string; digest: string; sizeBytes: number; format: string | null }>(res, 'PUT /images/…/content', (b) => typeof b.id === 'string');
    const first = body.errors?.[0];
    if (first) throw this.answered(first);
    if (!res.ok) throw new CliError(`upload failed: HTTP ${res.status}`, res.status >= 500 ? 'UNAVAILABLE' : 'FAILURE');
    return body;
  }

  /** Downloads a backup of the gateway's own data (`GET /admin/backup`, site admins): its text as it comes. */
  async downloadBackup(): Promise<AsyncIterable<string>> {
    const res = await this.send(`${this.connection.url}/admin/backup`, { headers: this.headers({ accept: 'application/x-ndjson' }) });
    if (!res.ok || !res.body) {
      const body = await this.readAnswer<GraphQLBody<never>>(res, 'GET /admin/backup');
      const first = body.errors?.[0] && fromGateway(body.errors[0]);
      throw new CliError(first?.message ?? `backup failed: HTTP ${res.status}`, first?.extensions?.code ?? (res.status >= 500 ? 'UNAVAILABLE' : 'FAILURE'));
    }
    return textOf(res.body);
  }

  /**
   * Follows an operation until it ends, calling `onUpdate` with every change from the
   * `operationUpdated` subscription. It also asks for the operation right after subscribing
   * (it may have ended already) and every few seconds (a missed event must not hang the CLI).
   * Answers are merged with `mergeOperation`: what is shown never goes back.
   */
  async followOperation(id: string, onUpdate: (op: Operation) => void = () => undefined): Promise<Operation> {
    const ws = this.socket(3);
    try {
      return await new Promise<Operation>((resolve, reject) => {
        let done = false;
        let shown: Operation | undefined;
        const seen = (update: Operation) => {
          if (done) return;
          const op = mergeOperation(shown, update);
          if (op === shown) return;
          shown = op;
          onUpdate(op);
          if (isFinished(op)) {
            done = true;
            clearInterval(poll);
            unsubscribe();
            resolve(op);
          }
        };
        const check = () =>
          this.request(OperationDocument, { id }).then(
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
        const unsubscribe = ws.subscribe<OperationUpdatedSubscription>(
          { query: OperationUpdatedDocument.toString(), variables: { id } },
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

  /**
   * A graphql-ws client on the gateway, authenticated with the token: in the upgrade's
   * `Authorization` header (the gateway then never counts the socket among those without a token)
   * and in `connection_init`.
   */
  private socket(retryAttempts: number, onConnected?: () => void): WsClient {
    const authorization = this.connection.token ? `Bearer ${this.connection.token}` : undefined;
    return createClient({
      url: `${this.connection.url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: authorization
        ? class extends WebSocket {
            constructor(url: string, protocols?: string | string[]) {
              super(url, protocols, { headers: { authorization } });
            }
          }
        : WebSocket,
      connectionParams: authorization ? { authorization } : {},
      retryAttempts,
      lazy: true,
      ...(onConnected ? { on: { connected: onConnected } } : {}),
    });
  }

  /**
   * Follows a subscription, calling `onData` with every result. `ended` resolves when the server
   * completes it or `stop` is called, and rejects with a CliError (its GraphQL message and code)
   * when the gateway refuses it or cannot be reached; `onSubscribed` runs once connected.
   */
  subscribe<T, V>(document: TypedDocumentString<T, V>, variables: V, onData: (data: T) => void, onSubscribed: () => void = () => undefined): LiveSubscription {
    const ws = this.socket(0, onSubscribed);
    let unsubscribe: () => void = () => undefined;
    let settle: (error?: unknown) => void = () => undefined;
    const ended = new Promise<void>((resolve, reject) => {
      settle = (error) => (error === undefined ? resolve() : reject(error));
      unsubscribe = ws.subscribe<T>(
        { query: document.toString(), variables: presentVariables(variables) },
        {
          next: (value) => {
            const first = value.errors?.[0] && fromGateway(value.errors[0] as { message: string; extensions?: { code?: string } });
            if (first) settle(new CliError(first.message, first.extensions?.code ?? 'FAILURE'));
            else if (value.data) onData(value.data as T);
          },
          error: (e) => settle(subscriptionError(e, this.connection.url)),
          complete: () => settle(),
        },
      );
    }).finally(() => ws.dispose());
    return {
      ended,
      stop: async () => {
        unsubscribe();
        settle();
        await ended.catch(() => undefined);
      },
    };
  }
}

/** A subscription being followed: `ended` settles when it ends; `stop` ends it. */
export interface LiveSubscription {
  ended: Promise<void>;
  stop(): Promise<void>;
}

/** What a graphql-ws failure means for a person: GraphQL errors, a refused or a broken connection. */
function subscriptionError(e: unknown, url: string): CliError {
  if (Array.isArray(e)) {
    const first = e[0] && fromGateway(e[0] as { message?: string; extensions?: { code?: string } });
    return new CliError(first?.message ?? 'the subscription failed', first?.extensions?.code ?? 'FAILURE');
  }
  const closed = e as { code?: number; reason?: string; message?: string; error?: { code?: string; message?: string } };
  if (typeof closed.code === 'number') {
    // The gateway closes with 4403 when the token does not authenticate (unknown, revoked, expired).
    if (closed.code === 4401 || closed.code === 4403) return new CliError('the gateway does not accept this token (unknown, revoked or expired)', 'UNAUTHENTICATED');
    return new CliError(`the gateway closed the subscription: ${closed.code}${closed.reason ? ` ${printable(closed.reason)}` : ''}`, 'UNAVAILABLE', ExitCode.UNAVAILABLE);
  }
  const cause = closed.error?.code ?? closed.error?.message ?? closed.message ?? 'connection failed';
  return unreachable(url, cause);
}

/** The variables that are set: unset filters are left out rather than sent as null (an absent argument is "no filter"). */
function presentVariables(variables: unknown): Record<string, unknown> {
  return Object.fromEntries(Object.entries((variables ?? {}) as Record<string, unknown>).filter(([, v]) => v !== null && v !== undefined));
}

/** A response body's text, piece by piece. */
async function* textOf(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    yield decoder.decode(value, { stream: true });
  }
  const rest = decoder.decode();
  if (rest) yield rest;
}

/**
 * A GraphQL error as the gateway sent it, its message and code made printable (`printable`):
 * messages quote what others wrote (names, reasons), and a newline or escape sequence in one must
 * neither forge a line of rsp's output nor reach the terminal.
 */
export function fromGateway<E extends { message?: string; extensions?: { code?: string } }>(error: E): E {
  const code = error.extensions?.code;
  return { ...error, ...(typeof error.message === 'string' ? { message: printable(error.message) } : {}), ...(typeof code === 'string' ? { extensions: { ...error.extensions, code: printable(code) } } : {}) };
}

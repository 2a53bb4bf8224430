import type { Command } from 'commander';
import { TokenGroupDocument } from '../../../client/generated/graphql';
import { GatewayClient, mergeOperation, Operation } from '../client';
import { Connection, resolveConnection } from '../config';
import { CliError, ExitCode } from '../exit-codes';
import { details, emit, printable } from '../output';
import { ProgressBar } from '../progress';

/** The options every command accepts (declared once on the program). */
export interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

/** What a command needs: a client for the resolved connection, and how to print. */
export interface CommandContext {
  client: GatewayClient;
  connection: Connection;
  json: boolean;
}

/** Builds the context of the command being run from its (and its parents') options. */
export function contextOf(cmd: Command): CommandContext {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  const connection = resolveConnection(opts);
  return { client: new GatewayClient(connection), connection, json: !!opts.json };
}

/** The group a command acts for: `--group`, else the token's group (from `rsp login`, else asked of the gateway). */
export async function groupOf(ctx: CommandContext, given: string | undefined): Promise<string> {
  const group = given ?? ctx.connection.groupId ?? (ctx.connection.token ? (await ctx.client.request(TokenGroupDocument)).viewer.groupId : undefined);
  if (!group) throw new CliError('--group ID is required (the token has no group of its own)', 'BAD_USAGE', ExitCode.BAD_USAGE);
  return group;
}

/** Parses an integer option, as a usage error when it is not one. */
export function intOption(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n)) throw new CliError(`${name} must be a number, got "${text}"`, 'BAD_USAGE', ExitCode.BAD_USAGE);
  return n;
}

/**
 * Waits for an operation with a progress bar (unless `wait` is false), prints where it
 * ended, and fails with the operation's error code when it did not succeed. `lead` are rows
 * printed before the operation's in the human output (e.g. what the operation created).
 */
export async function awaitOperation(ctx: CommandContext, started: Operation, label: string, wait: boolean, lead: Array<[string, unknown]> = []): Promise<Operation> {
  const op = wait ? await followWithProgress(ctx, started, label) : started;
  emit(ctx.json, op, () => details([...lead, ['operation', op.id], ['kind', op.kind], ['state', op.state], ['progress', `${Math.round(op.progress * 100)}%`], ...(op.error ? ([['error', `${op.error.message} [${op.error.code}]`]] as Array<[string, unknown]>) : [])]));
  if (op.state === 'FAILED') throw new CliError(`${label} failed: ${op.error ? printable(op.error.message) : 'no reason given'}`, op.error ? printable(op.error.code) : 'FAILURE', ExitCode.FAILURE);
  if (op.state === 'CANCELLED') throw new CliError(`${label} was cancelled`, 'CANCELLED', ExitCode.FAILURE);
  return op;
}

/** Follows a started operation to its end with a progress bar labelled `label`; the ended operation. */
export async function followWithProgress(ctx: CommandContext, started: Operation, label: string): Promise<Operation> {
  const bar = new ProgressBar(label);
  bar.update(started);
  // What the start answered is what is shown first: a row stored before it (0 %, no message) must not take it back.
  let shown = started;
  try {
    return await ctx.client.followOperation(started.id, (o) => {
      const next = mergeOperation(shown, o);
      if (next === shown) return;
      shown = next;
      bar.update(next);
    });
  } finally {
    bar.finish();
  }
}

/** An option naming a value of a GraphQL enum, upper-cased; the gateway checks it is one. */
export function enumOption<E extends string>(text: string | undefined): E | undefined {
  return text === undefined ? undefined : (text.toUpperCase() as E);
}

/** Parses an option's text with `parse`; what it throws becomes a usage error naming the option. */
export function parsedOption<T>(name: string, text: string, parse: (text: string) => T): T {
  try {
    return parse(text);
  } catch (e) {
    throw new CliError(`${name}: ${(e as Error).message}`, 'BAD_USAGE', ExitCode.BAD_USAGE);
  }
}

/** Splits `KEY=VALUE` into its parts, as a usage error when there is no `=`. */
export function keyValue(name: string, text: string): [string, string] {
  const at = text.indexOf('=');
  if (at <= 0) throw new CliError(`${name}: expected KEY=VALUE, got "${text}"`, 'BAD_USAGE', ExitCode.BAD_USAGE);
  return [text.slice(0, at), text.slice(at + 1)];
}

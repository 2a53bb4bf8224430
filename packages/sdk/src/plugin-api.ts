import type { GraphQLError } from 'graphql';
import type { Driver } from './contract';

/**
 * The plugin API of RSP. A plugin is a module (an npm package or a file) whose default export is
 * a manifest: a driver plugin makes a virtualization driver, a gateway plugin makes a set of
 * request hooks. The API is versioned: a plugin written for another version is refused.
 */

/** The version of the plugin API this RSP provides. Bumped on any incompatible change. */
export const PLUGIN_API_VERSION = 1;

/** What a plugin's factory receives. */
export interface PluginContext {
  /** The plugin's own settings, as the operator gave them. */
  options: Record<string, unknown>;
  /** The data directory of the agent the driver is made for (of the gateway, for a gateway plugin), when the plugin keeps files. */
  dataDir?: string;
  /**
   * For a driver: the instance name of the agent it is made for, when several agents share this
   * machine's engines (`RSP_AGENTS`); a driver that names things on a shared engine should put it
   * in their names. Absent for the gateway's own agent.
   */
  instance?: string;
  /**
   * For a driver: who makes its objects — the gateway installation's id (in-process agents) or
   * the agent's id (a remote agent). A driver on an engine other installations may share should
   * mark what it makes with it and list, report and remove only objects marked with it (or with
   * no mark: made before owners existed). Absent: mark nothing.
   */
  owner?: string;
}

/** The manifest of a driver plugin. */
export interface DriverPluginManifest {
  apiVersion: number;
  /** Unique among loaded plugins, e.g. `rsp-driver-firecracker`. */
  name: string;
  kind: 'driver';
  description?: string;
  /** Makes the driver; it is then registered in the host agent's DriverRegistry. Called once per agent the gateway runs. */
  createDriver(context: PluginContext): Driver | Promise<Driver>;
}

/** The manifest of a gateway plugin. */
export interface GatewayPluginManifest<TContext = unknown> {
  apiVersion: number;
  name: string;
  kind: 'gateway';
  description?: string;
  /** Makes the hooks. */
  createPlugin(context: PluginContext): GatewayPlugin<TContext> | Promise<GatewayPlugin<TContext>>;
}

/** Any plugin manifest. */
export type PluginManifest = DriverPluginManifest | GatewayPluginManifest;

/** The kind of GraphQL operation. */
export type OperationType = 'query' | 'mutation' | 'subscription';

/** What every request hook sees. */
export interface RequestInfo<TContext = unknown> {
  operationName?: string;
  /** The query text, when the request carried one. */
  query?: string;
  variables?: Record<string, unknown>;
  /** The gateway's per-request context (request id, logger, caller…). */
  context: TContext;
}

/** What `onOperationStarted` sees: the operation is parsed, validated and about to run. */
export interface OperationInfo<TContext = unknown> extends RequestInfo<TContext> {
  operationType: OperationType;
}

/** What `onResponse` sees. */
export interface ResponseInfo<TContext = unknown> extends RequestInfo<TContext> {
  /** Absent when the request failed before its operation was known. */
  operationType?: OperationType;
  errors: readonly GraphQLError[];
  durationMs: number;
}

/** What `onError` sees. */
export interface ErrorInfo<TContext = unknown> extends RequestInfo<TContext> {
  errors: readonly GraphQLError[];
}

/**
 * A gateway plugin: a plain object of optional hooks, composed in a list (after envelop).
 * Hooks run in list order. `onOperationStarted` may throw to refuse the operation (the error
 * reaches the caller, e.g. FORBIDDEN); errors of the other hooks are reported, never sent.
 */
export interface GatewayPlugin<TContext = unknown> {
  name: string;
  /** The gateway is starting. */
  onServerStart?(): void | Promise<void>;
  /** The gateway is stopping. */
  onServerStop?(): void | Promise<void>;
  /** A request arrived. */
  onRequest?(info: RequestInfo<TContext>): void | Promise<void>;
  /** The operation is known and about to run; throwing refuses it. */
  onOperationStarted?(info: OperationInfo<TContext>): void | Promise<void>;
  /** The request met errors (parse, validation or execution). */
  onError?(info: ErrorInfo<TContext>): void | Promise<void>;
  /** The response is about to be sent. */
  onResponse?(info: ResponseInfo<TContext>): void | Promise<void>;
}

/** The hook names of a gateway plugin. */
export const GATEWAY_HOOKS = ['onServerStart', 'onServerStop', 'onRequest', 'onOperationStarted', 'onError', 'onResponse'] as const;

/** Declares a driver plugin for this API version. */
export function defineDriverPlugin(manifest: Omit<DriverPluginManifest, 'apiVersion' | 'kind'>): DriverPluginManifest {
  return { apiVersion: PLUGIN_API_VERSION, kind: 'driver', ...manifest };
}

/** Declares a gateway plugin for this API version. */
export function defineGatewayPlugin<TContext = unknown>(manifest: Omit<GatewayPluginManifest<TContext>, 'apiVersion' | 'kind'>): GatewayPluginManifest<TContext> {
  return { apiVersion: PLUGIN_API_VERSION, kind: 'gateway', ...manifest };
}

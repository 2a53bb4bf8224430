/** The plugin API and loader, for plugin authors and embedders. */
export { PLUGIN_API_VERSION, GATEWAY_HOOKS, defineDriverPlugin, defineGatewayPlugin } from './api';
export type {
  DriverPluginManifest,
  GatewayPluginManifest,
  PluginManifest,
  PluginContext,
  GatewayPlugin,
  RequestInfo,
  OperationInfo,
  ResponseInfo,
  ErrorInfo,
  OperationType,
} from './api';
export { toApolloPlugin } from './apollo-adapter';
export type { ApolloAdapterOptions } from './apollo-adapter';
export { loadPlugins, loadPluginSet, registerPluginDrivers, loadManifest, validateManifest, isPathSpecifier, PluginLoadError } from './loader';
export type { LoadOptions, LoadedPlugins, PluginSet, PluginDriverContext } from './loader';

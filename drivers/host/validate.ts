import type { Driver, EnvironmentSpec } from '../contract';
import { assertEnvironmentId, assertFeaturesSupported, assertSnapshotName, assertLimitsSupported, BadInputError, UnsupportedOperationError } from '../errors';
import { assertConfigValues, assertVolumes } from './rootfs';

/** Checks of names and addresses that reach engine configs: nothing with separators, whitespace or metacharacters passes. */
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const BRIDGE = /^[A-Za-z0-9_.-]{1,15}$/;
/** A managed network's name (the driver makes its own bridge or engine network for it). */
const NETWORK = /^[A-Za-z0-9_.-]{1,200}$/;

export { assertSnapshotName };

export function assertHostname(hostname: string): void {
  if (!HOSTNAME.test(hostname)) throw new BadInputError(`"${hostname}" is not a valid hostname`, { hostname });
}

export function assertIpv4(address: string, withPrefix: boolean): void {
  const [ip, prefix, ...rest] = address.split('/');
  const ok = IPV4.test(ip ?? '') && rest.length === 0 && (withPrefix ? prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= 32) : prefix === undefined);
  if (!ok) throw new BadInputError(`"${address}" is not a valid IPv4 address${withPrefix ? ' (with optional /prefix)' : ''}`, { address });
}

export function assertBridgeName(bridge: string): void {
  if (!BRIDGE.test(bridge)) throw new BadInputError(`"${bridge}" is not a valid bridge name`, { bridge });
}


/** Everything in a spec that can be checked before touching the engine: BAD_USER_INPUT or UNSUPPORTED_OPERATION. */
export function validateSpec(driver: Driver, spec: EnvironmentSpec): void {
  assertEnvironmentId(spec.id);
  assertHostname(spec.iface.hostname);
  assertLimitsSupported(driver, spec.limits);
  assertFeaturesSupported(driver, spec.iface);
  for (const [k, v] of Object.entries(spec.limits ?? {})) {
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)) throw new BadInputError(`limit ${k} must be a positive number`, { limit: k });
  }
  assertConfigValues(spec.iface.config);
  assertVolumes(spec.volumes);
  for (const s of spec.iface.dns ?? []) assertIpv4(s, false);
  const net = spec.iface.network;
  if (net?.network !== undefined) {
    if (!(driver.capabilities().features ?? []).includes('managedNetwork')) throw new UnsupportedOperationError('managed networks', `driver ${driver.name}`, 'the driver makes no networks of its own (use network.bridge)');
    if (!NETWORK.test(net.network)) throw new BadInputError(`"${net.network}" is not a valid network name`, { network: net.network });
    if (!net.ipv4 || !net.gateway) throw new BadInputError(`managed network ${net.network} needs network.ipv4 and network.gateway`, { network: net.network });
  }
  if (net?.bridge) assertBridgeName(net.bridge);
  if (net?.ipv4) assertIpv4(net.ipv4, true);
  if (net?.gateway) assertIpv4(net.gateway, false);
  if (spec.iface.log?.target === 'syslog' && /[\s\0]/.test(spec.iface.log.address)) throw new BadInputError('syslog address may not contain whitespace');
}

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DockerOptions } from 'dockerode';
import { BadInputError } from '../errors';

/** How the Docker driver reaches its engine and where it keeps its own files. */
export interface DockerDriverOptions {
  /** Unix socket of the engine. Default: from `DOCKER_HOST` (`unix://…`), else `/var/run/docker.sock`. */
  socketPath?: string;
  /** `DOCKER_HOST`-style address (`unix:///path`, `tcp://host:port`); default: the `DOCKER_HOST` environment variable. */
  dockerHost?: string;
  /**
   * Directory where the driver writes per-environment files such as `config.env`; whoever makes
   * the driver passes it (the gateway: `<data directory>/docker`). Default: `<tmpdir>/rsp-docker`.
   */
  stateDir?: string;
  /** Repository name imported images get (`<repo>:<name>-<version>`). Default `rsp`, or `rsp-<instance>`. */
  imageRepository?: string;
  /**
   * Names this driver instance when several host agents share one engine: its containers are
   * named `rsp-<instance>-<id>` and labelled `rsp.instance=<instance>`, and it lists, finds and
   * removes only those. Default: none — names `rsp-<id>`, containers without the label.
   */
  instance?: string;
  /**
   * Who made the objects (the gateway installation's id for its in-process agents, the agent's
   * id for a remote one): they are labelled `rsp.owner=<owner>`, and the driver lists, finds and
   * removes only objects of this owner or of none (made before owners existed). Default: none —
   * no label, and objects of other owners are not seen.
   */
  owner?: string;
  /** Default deadline of one engine call, ms. Default 30 s. */
  timeoutMs?: number;
  /** Default deadline of image import/export, ms. Default 10 min. */
  transferTimeoutMs?: number;
}

/** Options with every default filled in. */
export interface ResolvedDockerConfig {
  connection: DockerOptions;
  /** Where the engine is, for messages. */
  endpoint: string;
  stateDir: string;
  imageRepository: string;
  instance: string | undefined;
  owner: string | undefined;
  timeoutMs: number;
  transferTimeoutMs: number;
}

export const DEFAULT_SOCKET_PATH = '/var/run/docker.sock';

/** What a driver instance name may be: it becomes part of container and image names. */
export const INSTANCE_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;

/** What an owner may be: it becomes a label value. */
export const OWNER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** Fills the defaults, honouring Docker's own `DOCKER_HOST` unless a socket path or host is given explicitly. */
export function resolveDockerConfig(options: DockerDriverOptions = {}, env: NodeJS.ProcessEnv = process.env): ResolvedDockerConfig {
  if (options.instance !== undefined && !INSTANCE_PATTERN.test(options.instance)) throw new BadInputError(`Docker driver instance "${options.instance}" is not a name (a-z, 0-9, -; at most 32)`, { instance: options.instance });
  if (options.owner !== undefined && !OWNER_PATTERN.test(options.owner)) throw new BadInputError(`Docker driver owner "${options.owner}" is not one (A-Z, a-z, 0-9, . _ : -; at most 128)`, { owner: options.owner });
  const { connection, endpoint } = connectionFor(options, env);
  return {
    connection,
    endpoint,
    stateDir: options.stateDir ?? join(tmpdir(), 'rsp-docker'),
    imageRepository: options.imageRepository ?? (options.instance ? `rsp-${options.instance}` : 'rsp'),
    instance: options.instance,
    owner: options.owner,
    timeoutMs: options.timeoutMs ?? 30_000,
    transferTimeoutMs: options.transferTimeoutMs ?? 600_000,
  };
}

function connectionFor(options: DockerDriverOptions, env: NodeJS.ProcessEnv): { connection: DockerOptions; endpoint: string } {
  if (options.socketPath) return { connection: { socketPath: options.socketPath }, endpoint: `unix://${options.socketPath}` };
  const host = options.dockerHost ?? env.DOCKER_HOST;
  if (!host) return { connection: { socketPath: DEFAULT_SOCKET_PATH }, endpoint: `unix://${DEFAULT_SOCKET_PATH}` };
  if (host.startsWith('unix://')) {
    const socketPath = host.slice('unix://'.length);
    return { connection: { socketPath }, endpoint: host };
  }
  const url = new URL(host.replace(/^tcp:/, 'http:'));
  const protocol = url.protocol === 'https:' ? 'https' : 'http';
  return { connection: { host: url.hostname, port: Number(url.port || (protocol === 'https' ? 2376 : 2375)), protocol }, endpoint: host };
}

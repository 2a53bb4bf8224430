import type { Command } from 'commander';
import {
  EnvironmentMetricsDocument,
  EnvironmentSampleFieldsFragment,
  HostMetricsDocument,
  HostSampleFieldsFragment,
  SiteMetricsDocument,
  SiteSampleFieldsFragment,
  TopEnvironmentNameDocument,
  TopHostNameDocument,
  TopSiteNameDocument,
  TopTargetsDocument,
} from '../../../client/generated/graphql';
import type { GatewayClient, LiveSubscription } from '../client';
import { CliError, ExitCode } from '../exit-codes';
import { humanBitsPerSecond, humanBytes, percent, printable, table, usedOfTotalGiB } from '../output';
import { CommandContext, contextOf, intOption } from './context';

/** Live samples as `rsp top` and the dashboard receive them (the shared *SampleFields fragments). */
type HostSample = HostSampleFieldsFragment;
type EnvironmentSample = EnvironmentSampleFieldsFragment;
type SiteSample = SiteSampleFieldsFragment;

type Kind = 'host' | 'environment' | 'site';

/** Something `rsp top` watches, and its latest sample. */
export interface Target {
  kind: Kind;
  id: string;
  name: string;
  sample?: HostSample | EnvironmentSample | SiteSample;
}

/** Follows a target's samples with the subscription of its kind. */
function followSamples(client: GatewayClient, t: Target, onSample: (sample: NonNullable<Target['sample']>) => void): LiveSubscription {
  switch (t.kind) {
    case 'host':
      return client.subscribe(HostMetricsDocument, { id: t.id }, (d) => onSample(d.hostMetrics));
    case 'environment':
      return client.subscribe(EnvironmentMetricsDocument, { id: t.id }, (d) => onSample(d.environmentMetrics));
    case 'site':
      return client.subscribe(SiteMetricsDocument, { id: t.id }, (d) => onSample(d.siteMetrics));
  }
}

/** Bits per second from a byte rate. */
const bits = (bytesPerSecond: number) => humanBitsPerSecond(bytesPerSecond * 8);

/** The screen: a table per kind of target, human units. */
export function renderTop(targets: Target[]): string {
  const of = <S>(kind: Kind) => targets.filter((t) => t.kind === kind) as Array<Target & { sample?: S }>;
  const parts: string[] = [];
  const hosts = of<HostSample>('host');
  if (hosts.length) {
    const net = (s: HostSample, dir: 'rxBytesPerSecond' | 'txBytesPerSecond') => s.networks.filter((n) => n.interface !== 'lo').reduce((sum, n) => sum + n[dir], 0);
    const disk = (s: HostSample, dir: 'readBytesPerSecond' | 'writeBytesPerSecond') => s.disks.reduce((sum, d) => sum + d[dir], 0);
    parts.push(
      `HOSTS\n${table(hosts, [
        { header: 'HOST', value: (t) => t.name },
        { header: 'CPU', value: (t) => t.sample && percent(t.sample.cpu.usage) },
        { header: 'CORES', value: (t) => t.sample?.cpu.cores.length },
        { header: 'LOAD', value: (t) => t.sample?.load.one.toFixed(2) },
        { header: 'MEMORY', value: (t) => t.sample && usedOfTotalGiB(t.sample.memory.usedBytes, t.sample.memory.totalBytes) },
        { header: 'NET RX', value: (t) => t.sample && bits(net(t.sample, 'rxBytesPerSecond')) },
        { header: 'NET TX', value: (t) => t.sample && bits(net(t.sample, 'txBytesPerSecond')) },
        { header: 'DISK READ', value: (t) => t.sample && `${humanBytes(disk(t.sample, 'readBytesPerSecond'))}/s` },
        { header: 'DISK WRITE', value: (t) => t.sample && `${humanBytes(disk(t.sample, 'writeBytesPerSecond'))}/s` },
        { header: 'ID', value: (t) => t.id },
      ])}`,
    );
  }
  const envs = of<EnvironmentSample>('environment');
  if (envs.length) {
    parts.push(
      `ENVIRONMENTS\n${table(envs, [
        { header: 'ENVIRONMENT', value: (t) => t.name },
        { header: 'CPU', value: (t) => t.sample && percent(t.sample.cpuUsage) },
        { header: 'MEMORY', value: (t) => t.sample && `${humanBytes(t.sample.memoryBytes)}${t.sample.memoryLimitBytes ? ` / ${humanBytes(t.sample.memoryLimitBytes)}` : ''}` },
        { header: 'NET RX', value: (t) => t.sample && bits(t.sample.networkRxBytesPerSecond) },
        { header: 'NET TX', value: (t) => t.sample && bits(t.sample.networkTxBytesPerSecond) },
        { header: 'PIDS', value: (t) => t.sample?.pids },
        { header: 'HOST', value: (t) => t.sample?.hostId },
        { header: 'ID', value: (t) => t.id },
      ])}`,
    );
  }
  const sites = of<SiteSample>('site');
  if (sites.length) {
    parts.push(
      `SITES\n${table(sites, [
        { header: 'SITE', value: (t) => t.name },
        { header: 'HOSTS', value: (t) => t.sample?.hosts },
        { header: 'ENVS', value: (t) => t.sample?.environments },
        { header: 'CPU', value: (t) => t.sample && percent(t.sample.cpuUsage) },
        { header: 'MEMORY', value: (t) => t.sample && usedOfTotalGiB(t.sample.memoryUsedBytes, t.sample.memoryTotalBytes) },
        { header: 'NET RX', value: (t) => t.sample && bits(t.sample.networkRxBytesPerSecond) },
        { header: 'NET TX', value: (t) => t.sample && bits(t.sample.networkTxBytesPerSecond) },
        { header: 'ID', value: (t) => t.id },
      ])}`,
    );
  }
  return parts.join('\n');
}

/** The targets named by the options, or every host and running environment the caller can see. */
async function targetsOf(ctx: CommandContext, opts: TopOptions): Promise<Target[]> {
  const named = [...(opts.host ?? []), ...(opts.env ?? []), ...(opts.site ?? [])];
  if (!named.length) {
    const { hosts, environments } = await ctx.client.request(TopTargetsDocument);
    return [...hosts.nodes.map((h) => ({ kind: 'host' as const, id: h.id, name: h.hostname })), ...environments.nodes.map((e) => ({ kind: 'environment' as const, id: e.id, name: e.name }))];
  }
  const targets: Target[] = [];
  for (const id of opts.host ?? []) targets.push({ kind: 'host', id, name: (await ctx.client.request(TopHostNameDocument, { id })).host.hostname });
  for (const id of opts.env ?? []) targets.push({ kind: 'environment', id, name: (await ctx.client.request(TopEnvironmentNameDocument, { id })).environment.name });
  for (const id of opts.site ?? []) targets.push({ kind: 'site', id, name: (await ctx.client.request(TopSiteNameDocument, { id })).site.name });
  return targets;
}

interface TopOptions {
  host?: string[];
  env?: string[];
  site?: string[];
  once?: boolean;
  timeout: string;
}

/** Without named targets: how often a running `rsp top` looks for hosts and environments to add or drop (ms). */
const TARGETS_REFRESH_MS = Number(process.env.RSP_TOP_REFRESH_MS ?? 10_000);

/** With --once: how long to wait for the other targets once a first sample has come (ms). */
const ONCE_GRACE_MS = 3000;

/** `rsp top`: live host, environment and site metrics from the subscriptions, refreshed in place. */
export function registerTop(program: Command): void {
  program
    .command('top')
    .description('live metrics (CPU, memory, network, disk) of hosts, environments and sites; default: every host and running environment you can see')
    .option('--host <id...>', 'watch these hosts')
    .option('--env <id...>', 'watch these environments')
    .option('--site <id...>', 'watch these sites (totals)')
    .option('--once', 'print one sample of each and exit')
    .option('--timeout <seconds>', 'with --once: how long to wait for samples', '15')
    .action(async (opts: TopOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      const timeoutMs = (intOption('--timeout', opts.timeout) ?? 15) * 1000;
      const targets = await targetsOf(ctx, opts);
      if (!targets.length) throw new CliError('nothing to watch: no host or running environment is visible (name one with --host, --env or --site)', 'NOT_FOUND');
      const tty = !ctx.json && !opts.once && process.stdout.isTTY;
      let lastDraw = 0;
      let pending: NodeJS.Timeout | undefined;
      const draw = () => {
        pending = undefined;
        lastDraw = Date.now();
        const latest = targets.reduce((max, t) => (t.sample && t.sample.at > max ? t.sample.at : max), '');
        const screen = `rsp top — ${latest || 'waiting for samples'}${tty ? '  (Ctrl-C to quit)' : ''}\n\n${renderTop(targets)}`;
        process.stdout.write(tty ? `\x1b[H\x1b[2J${screen}` : `${screen}\n`);
      };
      let allArrived: () => void = () => undefined;
      const arrived = new Promise<void>((r) => (allArrived = r));
      // With --once, targets that publish nothing (a host no agent samples) are not waited for
      // long: once any sample has come, the others get ONCE_GRACE_MS more.
      let grace: NodeJS.Timeout | undefined;
      const onSample = (target: Target, sample: Target['sample']) => {
        const first = !target.sample;
        target.sample = sample;
        if (opts.once && !grace) grace = setTimeout(allArrived, ONCE_GRACE_MS);
        if (ctx.json && (!opts.once || first)) process.stdout.write(`${JSON.stringify({ kind: target.kind, name: target.name, ...sample })}\n`);
        if (targets.every((t) => t.sample)) allArrived();
        if (ctx.json || opts.once || pending) return;
        // Redraw at most every 250 ms on a terminal, every second elsewhere.
        pending = setTimeout(draw, Math.max(0, lastDraw + (tty ? 250 : 1000) - Date.now()));
      };
      // One subscription per target. Without named targets, a running `rsp top` re-reads the
      // visible hosts and running environments every TARGETS_REFRESH_MS: environments started
      // later appear, stopped ones go.
      const subs = new Map<string, LiveSubscription>();
      const follow = !opts.once && !opts.host?.length && !opts.env?.length && !opts.site?.length;
      let finish: () => void = () => undefined;
      let fail: (e: unknown) => void = () => undefined;
      // Settles when a subscription fails, or (named targets) when the gateway ends one.
      const failed = new Promise<void>((resolve, reject) => {
        finish = resolve;
        fail = reject;
      });
      const watch = (t: Target) => {
        const key = `${t.kind}:${t.id}`;
        const sub = followSamples(ctx.client, t, (sample) => onSample(t, sample));
        subs.set(key, sub);
        sub.ended.then(() => {
          if (!follow) return finish();
          if (subs.get(key) !== sub) return;
          subs.delete(key);
          targets.splice(targets.indexOf(t), 1);
        }, fail);
      };
      targets.forEach(watch);
      // Set once stopping: a refresh still in flight must not open subscriptions after that.
      let stopped = false;
      // One refresh at a time: the next is timed from the end of the last, so a slow gateway
      // never has refreshes piling up (each would open the same subscriptions again).
      let refresher: NodeJS.Timeout | undefined;
      const refresh = async () => {
        const now = await targetsOf(ctx, opts);
        if (stopped) return;
        const keys = new Set(now.map((t) => `${t.kind}:${t.id}`));
        for (let i = targets.length - 1; i >= 0; i -= 1) {
          const key = `${targets[i]!.kind}:${targets[i]!.id}`;
          if (keys.has(key)) continue;
          targets.splice(i, 1);
          const sub = subs.get(key);
          subs.delete(key);
          await sub?.stop();
        }
        for (const t of now) {
          if (stopped) return;
          if (subs.has(`${t.kind}:${t.id}`)) continue;
          targets.push(t);
          watch(t);
        }
      };
      const scheduleRefresh = () => {
        refresher = setTimeout(() => refresh().then(() => (stopped ? undefined : scheduleRefresh()), fail), TARGETS_REFRESH_MS);
      };
      if (follow) scheduleRefresh();
      const stopAll = async () => {
        stopped = true;
        if (pending) clearTimeout(pending);
        clearTimeout(refresher);
        await Promise.all([...subs.values()].map((s) => s.stop()));
      };
      try {
        if (opts.once) {
          let timer: NodeJS.Timeout | undefined;
          const timedOut = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)));
          await Promise.race([arrived, timedOut, failed]);
          clearTimeout(timer);
          clearTimeout(grace);
          const missing = targets.filter((t) => !t.sample);
          if (missing.length === targets.length) throw new CliError(`no metrics arrived within ${timeoutMs / 1000} s (is sampling off, RSP_METRICS_INTERVAL_MS=0?)`, 'TIMEOUT', ExitCode.UNAVAILABLE);
          if (missing.length) process.stderr.write(`rsp: no sample yet from ${missing.map((t) => printable(`${t.kind} ${t.name}`)).join(', ')}\n`);
          if (!ctx.json) draw();
          return;
        }
        const interrupted = new Promise<void>((r) => {
          process.once('SIGINT', r);
          process.once('SIGTERM', r);
        });
        await Promise.race([interrupted, failed]);
        if (tty) process.stdout.write('\n');
      } finally {
        await stopAll();
      }
    });
}

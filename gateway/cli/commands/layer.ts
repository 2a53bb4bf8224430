import type { Command } from 'commander';
import {
  LayerCreateDocument,
  LayerFieldsFragment,
  LayerListDocument,
  LayerOwnEntriesDocument,
  LayerPropertyInput,
  LayerRequirementInput,
  LayerShowDocument,
  LayerUpdateDocument,
  RequirementOperator,
} from '../../../client/generated/graphql';
import { CliError, ExitCode } from '../exit-codes';
import { details, emit, parseValue, table } from '../output';
import { contextOf, groupOf, keyValue } from './context';

/** The comparison operators of a requirement as typed. */
const OPERATORS: Record<string, RequirementOperator> = { '=': 'EQ', '!=': 'NEQ', '>=': 'GTE', '<=': 'LTE' };

/**
 * Parses a requirement: `key` (EXISTS), `key=v` (EQ), `key!=v` (NEQ), `key>=v` (GTE), `key<=v`
 * (LTE), `key=a|b` (IN).
 */
export function parseRequirement(text: string): LayerRequirementInput {
  const m = /^([A-Za-z][A-Za-z0-9_.-]*)\s*(?:(!=|>=|<=|=)\s*(.*))?$/.exec(text.trim());
  if (!m) throw new CliError(`--require: "${text}" is not a requirement (key, key=v, key!=v, key>=v, key<=v, key=a|b)`, 'BAD_USAGE', ExitCode.BAD_USAGE);
  const [, key, op, value] = m;
  if (!op) return { key: key!, op: 'EXISTS', values: [] };
  if (op === '=' && value!.includes('|')) return { key: key!, op: 'IN', values: value!.split('|').map(parseValue) };
  return { key: key!, op: OPERATORS[op]!, values: [parseValue(value!)] };
}

function requirementText(r: LayerRequirementInput): string {
  const sign: Record<string, string> = { EQ: '=', NEQ: '!=', GTE: '>=', LTE: '<=' };
  if (r.op === 'EXISTS') return `${r.key} exists`;
  if (r.op === 'IN') return `${r.key} in ${(r.values ?? []).join('|')}`;
  return `${r.key}${sign[r.op] ?? ` ${r.op} `}${(r.values ?? []).join(',')}`;
}

/** `key=value` options into properties; `locked` marks them all. */
function properties(texts: string[] | undefined, locked: boolean): LayerPropertyInput[] {
  return (texts ?? []).map((t) => {
    const [key, value] = keyValue('property', t);
    return { key, value: parseValue(value), locked };
  });
}

function showLayer(l: LayerFieldsFragment): string {
  const head = details([['id', l.id], ['kind', l.kind], ['name', l.name], ['group', l.groupId], ['parent', l.parentId], ['requirements', l.requirements.map(requirementText)], ['satisfied', l.requirementCheck.satisfied ? 'yes' : 'no']]);
  const effective = table(l.effectiveProperties, [
    { header: 'KEY', value: (p) => p.key },
    { header: 'VALUE', value: (p) => String(p.value) },
    { header: 'LOCKED', value: (p) => (p.locked ? 'yes' : 'no') },
    { header: 'FROM', value: (p) => (p.fromLayerId === l.id ? 'this layer' : p.fromLayerId) },
  ]);
  const unmet = l.requirementCheck.unmet.length
    ? `\nUnmet requirements:\n${table(l.requirementCheck.unmet, [
        { header: 'REQUIREMENT', value: (u) => requirementText(u.requirement) },
        { header: 'ACTUAL', value: (u) => (u.actual === null ? null : String(u.actual)) },
        { header: 'REASON', value: (u) => u.reason },
      ])}`
    : '';
  return `${head}\nEffective properties:\n${effective}${unmet}`;
}

/** `rsp layer list|show|create|set|unset`: layers of a stack and their inherited properties. */
export function registerLayer(program: Command): void {
  const layer = program.command('layer').description('layers (machine → OS → zone → service): properties inherited upwards, requirements checked');

  layer
    .command('list')
    .description("list a group's layers")
    .option('--group <id>', "the group (default: your token's group)")
    .action(async (opts: { group?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { layers } = await ctx.client.request(LayerListDocument, { groupId: await groupOf(ctx, opts.group) });
      emit(ctx.json, layers, () =>
        table(layers, [
          { header: 'ID', value: (l) => l.id },
          { header: 'KIND', value: (l) => l.kind },
          { header: 'NAME', value: (l) => l.name },
          { header: 'PARENT', value: (l) => l.parentId },
          { header: 'PROPERTIES', value: (l) => l.properties.map((p) => `${p.key}=${p.value}${p.locked ? '!' : ''}`) },
          { header: 'REQUIREMENTS', value: (l) => (l.requirementCheck.satisfied ? 'met' : `${l.requirementCheck.unmet.length} unmet`) },
        ]),
      );
    });

  layer
    .command('show <id>')
    .description('show a layer, its effective properties (after inheritance) and unmet requirements')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { layer: l } = await ctx.client.request(LayerShowDocument, { id });
      emit(ctx.json, l, () => showLayer(l));
    });

  layer
    .command('create <kind> <name>')
    .description('create a layer: OS, ZONE, SERVICE or another UPPER_CASE kind')
    .option('--group <id>', "the group (default: your token's group)")
    .option('--parent <id>', 'the layer it sits on (e.g. a host\'s MACHINE layer)')
    .option('--set <key=value...>', 'its properties')
    .option('--lock <key=value...>', 'properties upper layers cannot override')
    .option('--require <req...>', 'requirements on what it inherits: key, key=v, key!=v, key>=v, key<=v, key=a|b')
    .action(async (kind: string, name: string, opts: { group?: string; parent?: string; set?: string[]; lock?: string[]; require?: string[] }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const input = { groupId: await groupOf(ctx, opts.group), kind: kind.toUpperCase(), name, ...(opts.parent ? { parentId: opts.parent } : {}), properties: [...properties(opts.set, false), ...properties(opts.lock, true)], requirements: (opts.require ?? []).map(parseRequirement) };
      const { createLayer: l } = await ctx.client.request(LayerCreateDocument, { input });
      emit(ctx.json, l, () => `Created ${l.kind} layer ${l.name} (${l.id})${l.requirementCheck.satisfied ? '' : `; ${l.requirementCheck.unmet.length} requirement(s) unmet: ${l.requirementCheck.unmet.map((u) => u.reason).join('; ')}`}\n`);
    });

  layer
    .command('set <id> [key=value...]')
    .description('set properties of a layer (others are kept), move it (--parent) or add requirements')
    .option('--locked', 'lock the properties set: upper layers cannot override them')
    .option('--parent <id>', 'move it onto this layer')
    .option('--require <req...>', 'add requirements: key, key=v, key!=v, key>=v, key<=v, key=a|b')
    .action(async (id: string, pairs: string[], opts: { locked?: boolean; parent?: string; require?: string[] }, cmd: Command) => {
      const ctx = contextOf(cmd);
      if (!pairs.length && !opts.parent && !opts.require) throw new CliError('nothing to set: give key=value, --parent or --require', 'BAD_USAGE', ExitCode.BAD_USAGE);
      const { layer: current } = await ctx.client.request(LayerOwnEntriesDocument, { id });
      const changed = properties(pairs, !!opts.locked);
      const input = {
        id,
        ...(opts.parent ? { parentId: opts.parent } : {}),
        ...(changed.length ? { properties: [...current.properties.filter((p) => !changed.some((c) => c.key === p.key)), ...changed] } : {}),
        ...(opts.require ? { requirements: [...current.requirements, ...opts.require.map(parseRequirement)] } : {}),
      };
      const { updateLayer: l } = await ctx.client.request(LayerUpdateDocument, { input });
      emit(ctx.json, l, () => showLayer(l));
    });

  layer
    .command('unset <id> <key...>')
    .description("remove properties (or, with --requirement, requirements on these keys) from a layer")
    .option('--requirement', 'remove the requirements on these keys instead')
    .action(async (id: string, keys: string[], opts: { requirement?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { layer: current } = await ctx.client.request(LayerOwnEntriesDocument, { id });
      const list = opts.requirement ? current.requirements : current.properties;
      const missing = keys.filter((k) => !list.some((p) => p.key === k));
      if (missing.length) throw new CliError(`layer ${id} has no ${opts.requirement ? 'requirement' : 'property'} ${missing.join(', ')}`, 'BAD_USAGE', ExitCode.BAD_USAGE);
      const kept = list.filter((p) => !keys.includes(p.key));
      const { updateLayer: l } = await ctx.client.request(LayerUpdateDocument, { input: { id, [opts.requirement ? 'requirements' : 'properties']: kept } });
      emit(ctx.json, l, () => showLayer(l));
    });
}

import { request } from '../../api/graphql';
import { Replica, ReplicaRestoreDocument, ReplicationPolicyCreateDocument, ReplicationTargetKind } from '../../api/queries';
import { checked, disclosure, field, form, input, numberOf, select, valueOf } from '../../ui/form';
import { followOperation } from '../../ui/operation-dock';
import type { TargetNames } from '../replication';

/** Where a new policy's replicas may go: every host, site and group named, and the store ("KIND:id"). */
function targetOptions(names: TargetNames): Array<[string, string]> {
  return [
    ...[...names.hosts].map(([id, name]): [string, string] => [`HOST:${id}`, `host ${name}`]),
    ...[...names.sites].map(([id, name]): [string, string] => [`SITE:${id}`, `any host of site ${name}`]),
    ...[...names.groups].map(([id, name]): [string, string] => [`GROUP:${id}`, `any host of group ${name}`]),
    ['STORE:', 'the artifact store only'],
  ];
}

/**
 * Create a replication policy for one of `environments` (`environmentId` chosen first): target,
 * schedule, replicas kept, encryption, snapshot before copy, automatic failover and restore drills. `created` is
 * called with the new policy's name.
 */
export function policyForm(environments: Array<{ id: string; name: string }>, environmentId: string | undefined, names: TargetNames, created: () => void): HTMLElement {
  return disclosure(
    'New replication policy',
    form({
      label: 'New replication policy',
      submit: 'Create policy',
      body: [
        field('Environment', select('environment', environments.map((e) => [e.id, e.name]), environmentId, { required: true })),
        field('Name', input('name', { placeholder: 'nightly', autocomplete: 'off' }), 'Default: made from the target.'),
        field('Target', select('target', targetOptions(names)), 'Where replicas are kept and restored.'),
        field('Schedule', input('schedule', { required: true, value: '0 3 * * *', autocomplete: 'off' }), 'A 5-field cron expression (UTC) or "every N minutes".'),
        field('Replicas kept', input('keep', { type: 'number', min: 1, step: 1, value: 3, inputmode: 'numeric' })),
        field('Restore drills', input('drill', { placeholder: '0 4 * * 0', autocomplete: 'off' }), 'Same syntax; empty for none.'),
        field('Encrypted', input('encrypted', { type: 'checkbox' })),
        field('Snapshot before copy', input('snapshot', { type: 'checkbox' }), 'A consistent copy: each run exports from a snapshot it takes and deletes (drivers that can).'),
        field('Automatic failover', input('failover', { type: 'checkbox' }), 'Restore elsewhere when its host goes down.'),
      ],
      onSubmit: async (el) => {
        const [kind, id] = valueOf(el, 'target').split(':') as [ReplicationTargetKind, string];
        const { createReplicationPolicy: p } = await request(ReplicationPolicyCreateDocument, {
          input: {
            environmentId: valueOf(el, 'environment'),
            ...(valueOf(el, 'name') ? { name: valueOf(el, 'name') } : {}),
            targetKind: kind,
            ...(id ? { targetId: id } : {}),
            schedule: valueOf(el, 'schedule'),
            keep: numberOf(el, 'keep'),
            ...(valueOf(el, 'drill') ? { drillSchedule: valueOf(el, 'drill') } : {}),
            encrypted: checked(el, 'encrypted'),
            snapshotBeforeCopy: checked(el, 'snapshot'),
            autoFailover: checked(el, 'failover'),
          },
        });
        created();
        return `Policy ${p.name} created: its first run is ${p.status.nextRunAt ? `at ${new Date(p.status.nextRunAt).toLocaleString()}` : 'not scheduled'}.`;
      },
    }),
  );
}

/**
 * Restore a replica (after every checksum is verified): as a new environment on a host (default:
 * the policy's target), started or not; its operation is followed in the dock.
 */
export function restoreForm(r: Replica, names: TargetNames, changed: () => void): HTMLElement {
  return disclosure(
    'Restore…',
    form({
      label: `Restore replica of ${r.environmentName}`,
      submit: 'Restore',
      body: [
        field('Name', input('name', { value: `${r.environmentName}-restored`, autocomplete: 'off' }), 'The new environment’s name.'),
        field('Host', select('host', [['', 'The policy’s target'], ...[...names.hosts].map(([id, name]): [string, string] => [id, name])])),
        field('Start it', input('start', { type: 'checkbox' })),
      ],
      onSubmit: async (el) => {
        const { op } = await request(ReplicaRestoreDocument, { replicaId: r.id, name: valueOf(el, 'name') || null, hostId: valueOf(el, 'host') || null, start: checked(el, 'start') });
        followOperation(op, `Restore ${r.environmentName}`, changed);
        return 'Restoring: follow it below.';
      },
    }),
  );
}

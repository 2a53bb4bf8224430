import { request } from '../../api/graphql';
import { DestroyEnvironmentDocument, Environment } from '../../api/queries';
import type { Kept } from '../../ui/dom';
import { confirmButton } from '../../ui/form';
import { followOperation } from '../../ui/operation-dock';

/** Statuses in which there is nothing left to delete (or it is under way). */
const GONE = new Set(['DESTROYING', 'DESTROYED']);

/**
 * Delete (destroyEnvironment) with a confirm step: its operation is followed in the dock, and
 * a refusal shows with its code (FORBIDDEN for a VIEWER token, CONFLICT…). With `kept`, the
 * button of an environment is kept across the view's reloads (an open confirm step stays open)
 * until it can no longer be deleted.
 */
export function deleteEnvironmentButton(env: Environment, changed: () => void, kept?: Kept): HTMLElement {
  const make = () => confirmButton({
    label: 'Delete',
    name: `Delete ${env.name}`,
    question: `Delete ${env.name}? It is stopped and removed with its volumes.`,
    disabled: GONE.has(env.status),
    run: async () => {
      const { op } = await request(DestroyEnvironmentDocument, { id: env.id });
      followOperation(op, `Delete ${env.name}`, changed);
      changed();
    },
  });
  return kept ? kept.get(`delete ${env.id} ${GONE.has(env.status)}`, make) : make();
}

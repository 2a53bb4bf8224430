import { operationEventPayload, type RspEvent } from '../../../gateway/events/events';
import { OperationEntity, OperationState } from '../../../gateway/persistence/entities';

/** An operation row as the database gives it (dates as Date). */
function operationRow(): OperationEntity {
  return Object.assign(new OperationEntity(), {
    id: '6f1c2d3e-0000-4000-8000-000000000001',
    kind: 'environment.create',
    targetType: 'Environment',
    targetId: 'env-1',
    groupId: '6f1c2d3e-0000-4000-8000-000000000002',
    state: OperationState.FAILED,
    progress: 0.5,
    message: 'copying',
    result: { environmentId: 'env-1' },
    errorCode: 'CONFLICT',
    errorMessage: 'the host is busy',
    createdAt: new Date('2026-01-02T03:04:05.678Z'),
    updatedAt: new Date('2026-01-02T03:04:06.000Z'),
    startedAt: new Date('2026-01-02T03:04:05.900Z'),
    finishedAt: null,
    version: 3,
  });
}

test('an OPERATION event is plain data: JSON carries it unchanged, dates as ISO strings', () => {
  const event: RspEvent = { kind: 'OPERATION', at: 1_767_322_245_678, groupId: null, siteId: null, operation: operationEventPayload(operationRow()) };
  expect(JSON.parse(JSON.stringify(event))).toEqual(event);
  expect(event.operation).toMatchObject({ createdAt: '2026-01-02T03:04:05.678Z', startedAt: '2026-01-02T03:04:05.900Z', finishedAt: null, errorCode: 'CONFLICT' });
  expect(event.operation).not.toHaveProperty('version');
  expect(Object.getPrototypeOf(event.operation)).toBe(Object.prototype);
});

test('a row the bus delivered JSON-decoded (dates as strings) gives the same payload', () => {
  const row = operationRow();
  const decoded = JSON.parse(JSON.stringify(row)) as OperationEntity;
  expect(operationEventPayload(decoded)).toEqual(operationEventPayload(row));
});

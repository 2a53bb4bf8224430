import { agentLine, agentStateLabel, hostStateLabel, hostsUp } from '../../../web/src/ui/host-state';

describe("the dashboard's host and agent wording", () => {
  const now = Date.parse('2026-01-01T12:00:00Z');

  test('the agent line: id, version, connection state, last heartbeat', () => {
    expect(agentLine({ agentId: 'a1', state: 'CONNECTED', version: '0.1.0', lastHeartbeatAt: '2026-01-01T11:59:30Z' }, now)).toBe('agent a1 · v0.1.0 · connected · heartbeat 30 s ago');
    expect(agentLine({ agentId: 'a1', state: 'DISCONNECTED', version: 'v0.1.0', lastHeartbeatAt: '2026-01-01T11:55:00Z' }, now)).toBe('agent a1 · v0.1.0 · disconnected · heartbeat 5 min ago');
  });

  test('an agent that never connected is shown as such, with no version nor heartbeat', () => {
    expect(agentStateLabel('NEVER')).toBe('never connected');
    expect(agentLine({ agentId: 'a2', state: 'NEVER', version: null, lastHeartbeatAt: null }, now)).toBe('agent a2 · never connected · no heartbeat yet');
  });

  test('only UP hosts count as up; UNKNOWN reads as waiting for its agent', () => {
    expect(hostsUp([{ state: 'UP' }, { state: 'UNKNOWN' }, { state: 'DOWN' }, { state: 'MAINTENANCE' }, { state: 'DRAINING' }])).toBe(1);
    expect(hostStateLabel('UNKNOWN')).toBe('waiting for its agent');
    expect(hostStateLabel('UP')).toBe('UP');
  });
});

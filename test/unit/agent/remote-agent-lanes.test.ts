import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import pino from 'pino';
import { loopbackPair } from '../../../gateway/agent/loopback-channel';
import { AGENT_PROTOCOL_VERSION } from '../../../gateway/agent/protocol';
import { callLanes } from '../../../gateway/agent/remote/call-lanes';
import { agentUrl } from '../../../gateway/agent/remote/agent-dialer';
import { closeReason } from '../../../gateway/agent/remote/handshake';
import { UpstreamClient } from '../../../gateway/agent/remote/upstream-client';
import { UpstreamDispatcher, type HeartbeatReceiver } from '../../../gateway/agent/remote/upstream-dispatcher';
import { leaseUntil } from '../../../gateway/agent/remote/agent-lease';
import type { HeartbeatRequest } from '../../../gateway/agent/protocol';
import type { HostFactsData } from '../../../gateway/agent/host-facts';
import { ArtifactStore } from '../../../gateway/artifacts/artifact-store';
import { StoreChunkTransport } from '../../../gateway/artifacts/store-chunk-transport';

const logger = pino({ level: 'silent' });

/** A receiver that records the beats and grants the lease of 100 ms beats, DOWN after 500 ms. */
function recordingReceiver(): HeartbeatReceiver & { beats: Array<{ agentId: string; beat: HeartbeatRequest }> } {
  const beats: Array<{ agentId: string; beat: HeartbeatRequest }> = [];
  const settings = { heartbeatMs: 100, downAfterMs: 500 };
  return {
    beats,
    async receiveHeartbeat(agentId, beat) {
      beats.push({ agentId, beat });
      return { leaseUntil: leaseUntil(beat.sentAt, settings), ...settings, acknowledged: beat.fenced.map((f) => f.id), failover: [] };
    },
  };
}

/** A facts receiver that records what it is given. */
function recordingFacts() {
  const recorded: Array<{ agentId: string; facts: HostFactsData }> = [];
  return {
    recorded,
    async recordFacts(agentId: string, facts: HostFactsData) {
      recorded.push({ agentId, facts });
      return { hosts: [{}], warnings: [{ message: 'RAM below use' }] };
    },
  };
}

/** Facts of a small machine, as an agent reports them. */
const FACTS: HostFactsData = {
  hostname: 'far-box',
  kernel: '6.1.0',
  arch: 'x64',
  platform: 'linux',
  cpuModel: 'Opteron',
  cpus: 4,
  memoryBytes: 8 * 2 ** 30,
  dataDir: { path: '/var/lib/rsp', sizeBytes: 1e11, freeBytes: 5e10 },
  filesystems: [{ device: '/dev/sda1', mountPoint: '/', sizeBytes: 1e11, freeBytes: 5e10 }],
  interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', addresses: ['198.51.100.2/24'], internal: false, speedBitsPerSecond: 1e9 }],
  drivers: [{ name: 'fake', technology: 'fake', available: true, version: '1.0.0', operations: ['exec'], limits: [] }],
  reportedAt: new Date(0).toISOString(),
};

/** The gateway's end (upstream dispatcher on its incoming lane) and the agent's upstream client, over a loopback. */
function upstreamOver(store: StoreChunkTransport, receiver = recordingReceiver(), facts = recordingFacts()) {
  const pair = loopbackPair();
  const malformed: string[] = [];
  const gateway = callLanes(pair.gatewayEnd, (p) => malformed.push(p), 'outgoing');
  new UpstreamDispatcher(receiver, store, gateway.incoming, 'a1', logger, facts);
  const agent = callLanes(pair.agentEnd, (p) => malformed.push(p), 'incoming');
  const client = new UpstreamClient();
  client.attach(agent.outgoing);
  return { pair, client, malformed, receiver, facts };
}

describe('a remote agent reads images through calls in the reverse direction', () => {
  const store = new StoreChunkTransport(ArtifactStore.inDirectory(mkdtempSync(join(tmpdir(), 'rsp-upstream-')), { logger }));

  test('the agent fetches a manifest and its chunks from the gateway store; writing is refused', async () => {
    const { manifest } = await store.store.put(Readable.from([Buffer.from('image bits '.repeat(1000))]));
    const { client } = upstreamOver(store);
    expect(await client.hasManifest(manifest.id)).toBe(true);
    expect(await client.getManifest(manifest.id)).toEqual(manifest);
    const ids = manifest.chunks.map((c) => c.hash);
    expect(await client.missingChunks(ids)).toEqual([]);
    expect((await client.getChunks(ids)).map((c) => c.id)).toEqual(ids);
    await expect(client.getManifest('0'.repeat(64))).rejects.toMatchObject({ category: 'NOT_FOUND' });
    await expect(client.putChunks()).rejects.toMatchObject({ category: 'UNSUPPORTED_OPERATION' });
  });

  test('the agent pushes a heartbeat as its own id and gets its lease; a malformed one is refused', async () => {
    const { client, receiver } = upstreamOver(store);
    const answer = await client.heartbeat({ sentAt: 1_000_000, fenced: [{ id: 'e1', driver: 'fake', at: 999_000 }] });
    expect(answer).toEqual({ leaseUntil: 1_000_000 + 500 - 100, heartbeatMs: 100, downAfterMs: 500, acknowledged: ['e1'], failover: [] });
    expect(receiver.beats).toEqual([{ agentId: 'a1', beat: { sentAt: 1_000_000, fenced: [{ id: 'e1', driver: 'fake', at: 999_000 }] } }]);
    await expect(client.heartbeat({ sentAt: 'now' } as unknown as HeartbeatRequest)).rejects.toMatchObject({ category: 'BAD_USER_INPUT', message: expect.stringMatching(/sentAt/) });
    await expect(client.heartbeat({ sentAt: 1, fenced: [{ id: 3 }] } as unknown as HeartbeatRequest)).rejects.toMatchObject({ category: 'BAD_USER_INPUT', message: expect.stringMatching(/fenced/) });
  });

  test("the agent pushes its facts as its own id; the gateway answers with the hosts that took them and its warnings; malformed facts are refused naming the field", async () => {
    const { client, facts } = upstreamOver(store);
    expect(await client.reportFacts(FACTS)).toEqual({ hosts: 1, warnings: ['RAM below use'] });
    expect(facts.recorded).toEqual([{ agentId: 'a1', facts: FACTS }]);
    await expect(client.reportFacts({ ...FACTS, cpus: 'many' } as unknown as HostFactsData)).rejects.toMatchObject({ category: 'BAD_USER_INPUT', message: expect.stringMatching(/cpus/) });
    await expect(client.reportFacts({ ...FACTS, drivers: [{ name: 'x' }] } as unknown as HostFactsData)).rejects.toMatchObject({ category: 'BAD_USER_INPUT', message: expect.stringMatching(/drivers\[0\]\.technology/) });
    await expect(client.reportFacts(undefined as unknown as HostFactsData)).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
    expect(facts.recorded).toHaveLength(1);
  });

  test('a call the gateway does not serve, or of another protocol version, is refused with an error frame', async () => {
    const { pair } = upstreamOver(store);
    const answers: unknown[] = [];
    pair.agentEnd.onFrame((f) => answers.push(JSON.parse(f)));
    pair.agentEnd.send(JSON.stringify({ type: 'request', id: 'x', protocol: AGENT_PROTOCOL_VERSION, method: 'putChunks', params: { chunks: [] }, context: { operationId: 'o' } }));
    pair.agentEnd.send(JSON.stringify({ type: 'request', id: 'y', protocol: AGENT_PROTOCOL_VERSION + 1, method: 'getManifest', params: { manifestId: 'm' }, context: { operationId: 'o' } }));
    await new Promise<void>((resolve) => {
      const check = setInterval(() => answers.length === 2 && (clearInterval(check), resolve()), 5);
    });
    expect(answers).toEqual([
      { type: 'error', id: 'x', error: expect.objectContaining({ category: 'UNSUPPORTED_OPERATION' }) },
      { type: 'error', id: 'y', error: expect.objectContaining({ category: 'UNSUPPORTED_OPERATION' }) },
    ]);
  });

  test('a message that is no frame is reported as malformed; calls in flight fail UNAVAILABLE when the channel closes', async () => {
    const { pair, client, malformed } = upstreamOver(store);
    pair.agentEnd.send('not json');
    pair.agentEnd.send('{"type":"hello"}');
    const pending = client.getManifest('f'.repeat(64));
    pair.close(new Error('cut'));
    await expect(pending).rejects.toMatchObject({ category: 'UNAVAILABLE' });
    await expect(client.hasManifest('f')).rejects.toMatchObject({ category: 'UNAVAILABLE' });
    expect(malformed).toEqual([]);
    const lanes = loopbackPair();
    const seen: string[] = [];
    callLanes(lanes.gatewayEnd, (p) => seen.push(p), 'outgoing');
    lanes.agentEnd.send('not json');
    lanes.agentEnd.send('{"type":"hello"}');
    await new Promise<void>((resolve) => {
      const check = setInterval(() => seen.length === 2 && (clearInterval(check), resolve()), 5);
    });
    expect(seen).toEqual(['a message that is not JSON', 'a message of unknown type "hello"']);
  });

  test('the agent endpoint of a gateway URL, and close reasons WebSocket can carry', () => {
    expect(agentUrl('https://gw.example.org')).toBe('wss://gw.example.org/agent');
    expect(agentUrl('http://127.0.0.1:4000/')).toBe('ws://127.0.0.1:4000/agent');
    expect(() => agentUrl('ftp://x')).toThrow(/http\(s\):\/\/ or ws\(s\):\/\//);
    expect(Buffer.byteLength(closeReason('é'.repeat(200)))).toBeLessThanOrEqual(123);
  });
});

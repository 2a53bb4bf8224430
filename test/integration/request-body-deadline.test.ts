import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { asImageBits } from '../helpers/image-bits';

/** A PUT of `chunks` to `url`, each written once the one before is flushed and `gapMs` have passed; `stopAfter` chunks and then nothing more (a stalled client). Answers the status and body, or how the connection ended. */
function slowPut(url: string, token: string, chunks: Buffer[], gapMs: number, stopAfter = chunks.length): Promise<{ status?: number; body?: any; closed?: string }> {
  const length = chunks.reduce((n, c) => n + c.length, 0);
  return new Promise((resolve) => {
    const req = request(url, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-length': String(length) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, body: text ? JSON.parse(text) : undefined }));
      res.on('error', (e) => resolve({ closed: e.message }));
    });
    req.on('error', (e) => resolve({ closed: e.message }));
    let i = 0;
    const next = () => {
      if (i >= stopAfter) return;
      req.write(chunks[i++], () => (i < chunks.length ? setTimeout(next, gapMs) : req.end()));
    };
    next();
  });
}

/**
 * Request bodies are held to a deadline (RSP_REQUEST_BODY_TIMEOUT_MS) in place of Node's own, which
 * cut every upload at 300 s: an image upload by a valid token may take longer while it keeps
 * sending, and is cut only when it stalls (RSP_UPLOAD_IDLE_TIMEOUT_MS).
 */
describe('request body deadline', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let group: string;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_REQUEST_BODY_TIMEOUT_MS: '800', RSP_UPLOAD_IDLE_TIMEOUT_MS: '5000' });
    group = (await t.ok<{ createGroup: { id: string } }>('mutation { createGroup(input: { slug: "slow", name: "Slow senders" }) { id } }')).createGroup.id;
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  const register = async (name: string): Promise<string> =>
    (await t.ok<{ registerImage: { id: string } }>('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: group, name, version: '1', technology: 'fake' } })).registerImage.id;
  const image = async (id: string) => (await t.ok<{ image: { digest: string | null; sizeBytes: number | null } }>('query ($id: ID!) { image(id: $id) { digest sizeBytes } }', { id })).image;

  test('a GraphQL request whose body stops coming is answered 408 REQUEST_TIMEOUT and closed', async () => {
    const answer = await new Promise<{ status?: number; body: string }>((resolve) => {
      const req = request(t.gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '200' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode, body: text }));
        res.on('error', () => resolve({ status: res.statusCode, body: text }));
      });
      req.on('error', (e) => resolve({ body: e.message }));
      req.write('{"query":"{ __typename');
    });
    expect(answer.status).toBe(408);
    expect(JSON.parse(answer.body).errors[0]).toMatchObject({ extensions: { code: 'REQUEST_TIMEOUT' }, message: expect.stringContaining('did not all come within') });
  });

  test('an upload by a valid token that keeps sending may take longer than the deadline, and is stored whole', async () => {
    const id = await register('slow-but-steady');
    const chunks = Array.from({ length: 12 }, (_, i) => (i ? Buffer.alloc(4096, i) : asImageBits(Buffer.alloc(4096, i))));
    const answer = await slowPut(`${t.gateway.url}/images/${id}/content`, t.adminToken, chunks, 150);
    const digest = `sha256:${createHash('sha256').update(Buffer.concat(chunks)).digest('hex')}`;
    expect(answer).toEqual({ status: 200, body: { id, digest, sizeBytes: 12 * 4096, format: 'rootfs-tar' } });
    expect(await image(id)).toEqual({ digest, sizeBytes: 12 * 4096 });
  });

  test('an upload that stalls is cut once it has sent nothing for the idle time, and keeps nothing', async () => {
    const id = await register('stalled');
    const chunks = Array.from({ length: 4 }, (_, i) => (i ? Buffer.alloc(4096, i) : asImageBits(Buffer.alloc(4096, i))));
    const answer = await slowPut(`${t.gateway.url}/images/${id}/content`, t.adminToken, chunks, 10, 2);
    expect(answer.status).toBeUndefined();
    expect(answer.closed).toBeDefined();
    expect(await image(id)).toEqual({ digest: null, sizeBytes: null });
  });

  test('without a valid token an upload gets no such leave: its body is held to the deadline', async () => {
    const id = await register('anonymous');
    const chunks = Array.from({ length: 3 }, (_, i) => Buffer.alloc(1024, i));
    const answer = await slowPut(`${t.gateway.url}/images/${id}/content`, 'rsp_not-a-token', chunks, 10, 1);
    // Its 401 waits for a body that stops coming: the deadline answers first (408), or closes it as the answer goes out.
    expect(answer.status === 408 || answer.closed !== undefined).toBe(true);
    expect(answer.status).not.toBe(200);
  });
});

import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExecutionRequest, ExecutionResult } from '@graphql-tools/utils';
import { parse } from 'graphql';
import { quotedAnswer, siteHttpExecutor, type SiteHttpExecutor } from '../../../gateway/federation/site-http';

/**
 * The federation's HTTP client toward its sites. A site is another installation: compromised (or
 * anything else answering at its URL), it may answer anything. Whatever it answers is a failure of
 * that site at worst, never an unbounded read nor an exception out of the client's event handlers.
 */
describe('rsp federate: what a hostile site answers', () => {
  let server: Server;
  let base = '';
  let answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();
  /** Connections of the site that closed (the client gave up on them). */
  let closedConnections = 0;
  let redirectFollowed = false;
  const executors: SiteHttpExecutor[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/elsewhere') {
        redirectFollowed = true;
        return res.end(JSON.stringify({ data: { a: 'followed' } }));
      }
      req.resume();
      req.once('end', () => answer(req, res));
    });
    server.on('connection', (socket) => socket.once('close', () => closedConnections++));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const e of executors) e.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const ask = (maxAnswerBytes?: number): Promise<ExecutionResult> => {
    // A long timeout: each answer here must end the request by itself, not by timing out.
    const site = siteHttpExecutor({ endpoint: `${base}/graphql`, timeoutMs: 20_000, headers: () => ({}), ...(maxAnswerBytes ? { maxAnswerBytes } : {}) });
    executors.push(site);
    return site.executor({ document: parse('{ a }'), variables: {}, context: {} } as ExecutionRequest) as Promise<ExecutionResult>;
  };
  const codeOf = (r: ExecutionResult) => r.errors?.[0]?.extensions?.code;

  test('an answer over the limit is cut off as it comes (its connection closed), or at once by its Content-Length', async () => {
    const closedBefore = closedConnections;
    // Streams 8 MiB, then keeps the connection open without ending the answer.
    answer = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"data":{"a":"');
      for (let i = 0; i < 8; i++) res.write('x'.repeat(1024 * 1024));
    };
    const streamed = await ask(1024 * 1024);
    expect(codeOf(streamed)).toBe('SUBREQUEST_HTTP_ERROR');
    expect(streamed.errors![0]!.extensions).toMatchObject({ reason: 'ANSWER_TOO_LARGE' });
    expect(streamed.errors![0]!.message).toMatch(/^The site's answer is over 1048576 bytes/);
    await new Promise<void>((resolve) => {
      const check = () => (closedConnections > closedBefore ? resolve() : setTimeout(check, 10));
      check();
    });

    answer = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(64 * 1024 * 1024) });
      res.write('{"data":');
    };
    const declared = await ask(1024 * 1024);
    expect(declared.errors![0]!.extensions).toMatchObject({ code: 'SUBREQUEST_HTTP_ERROR', reason: 'ANSWER_TOO_LARGE' });
    expect(declared.errors![0]!.message).toContain('67108864');
  });

  test('errors that are not objects, or carry a source, positions or nested original errors, come back as plain errors (no exception)', async () => {
    answer = (_req, res) => res.end(JSON.stringify({ errors: [null, 7] }));
    const odd = await ask();
    expect(odd.errors!.map((e) => e.message)).toEqual(['null', '7']);

    // Written out: an original error nested 20,000 deep (JSON.stringify would run out of stack first).
    const depth = 20_000;
    const nested = `${'{"message":"level","originalError":'.repeat(depth)}{"message":"deepest"}${'}'.repeat(depth)}`;
    const located = JSON.stringify({ message: 'located', source: {}, positions: [1], nodes: [5], path: ['a'], extensions: { code: 'FORBIDDEN' } });
    answer = (_req, res) => res.end(`{"data":null,"errors":[${located},{"message":"nested","originalError":${nested}}]}`);
    const crafted = await ask();
    expect(crafted.errors!.map((e) => [e.message, e.path, e.extensions.code])).toEqual([
      ['located', ['a'], 'FORBIDDEN'],
      ['nested', undefined, undefined],
    ]);
  });

  test('a redirect is not followed; a long answer that is not GraphQL is quoted in part', async () => {
    answer = (_req, res) => {
      res.writeHead(302, { location: `${base}/elsewhere` });
      res.end('x'.repeat(100_000));
    };
    const redirected = await ask();
    expect(codeOf(redirected)).toBe('RESPONSE_VALIDATION_FAILED');
    expect(redirected.errors![0]!.message).toBe(`Unexpected response: "${'x'.repeat(200)}… (100000 characters)"`);
    expect(redirectFollowed).toBe(false);
  });

  test("a site's answer is quoted with its control characters escaped: it cannot start a log line or an error line of its own", async () => {
    // A forged log line, a terminal escape, a line separator, a bidirectional override and a quote that would seem to end the quote.
    const hostile = 'oops\n{"level":30,"msg":"admin logged in"}\r\u001b[2J\u2028\u202e" end';
    answer = (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(hostile);
    const result = await ask();
    expect(codeOf(result)).toBe('RESPONSE_VALIDATION_FAILED');
    const { message } = result.errors![0]!;
    expect(message).toBe('Unexpected response: "oops\\n{\\"level\\":30,\\"msg\\":\\"admin logged in\\"}\\r\\u001b[2J\\u2028\\u202e\\" end"');
    expect(message).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/);
    expect((result.errors![0]!.extensions as { response: { body: string } }).response.body).toBe(message.slice('Unexpected response: "'.length, -1));
  });

  test('quotedAnswer: at most 200 whole characters, then the length', () => {
    expect(quotedAnswer('{}')).toBe('{}');
    const emoji = '😀'.repeat(300);
    expect(quotedAnswer(emoji)).toBe(`${'😀'.repeat(200)}… (600 characters)`);
    expect(quotedAnswer('\u0000'.repeat(500))).toBe(`${'\\u0000'.repeat(200)}… (500 characters)`);
  });

  test('a kept-alive connection the site closed meanwhile: a query is sent again on a fresh one and answered, a mutation fails (it is not sent twice)', async () => {
    // Each connection carries one answer: the next request on it finds it reset, as when the site's idle timeout ends it while the request is on its way.
    const answeredOn = new WeakSet<object>();
    const seen: string[] = [];
    answer = (req, res) => {
      seen.push(answeredOn.has(req.socket) ? 'reset' : 'answered');
      if (answeredOn.has(req.socket)) return void req.socket.resetAndDestroy();
      answeredOn.add(req.socket);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: { a: 'ok' } }));
    };
    const site = siteHttpExecutor({ endpoint: `${base}/graphql`, timeoutMs: 20_000, headers: () => ({}) });
    executors.push(site);
    const run = (text: string) => site.executor({ document: parse(text), variables: {}, context: {} } as ExecutionRequest) as Promise<ExecutionResult>;
    expect(await run('{ a }')).toEqual({ data: { a: 'ok' } });
    expect(await run('query { a }')).toEqual({ data: { a: 'ok' } });
    expect(seen).toEqual(['answered', 'reset', 'answered']);
    const mutation = await run('mutation { a }');
    expect(codeOf(mutation)).toBe('SUBREQUEST_HTTP_ERROR');
    expect(mutation.errors![0]!.message).toBe('The site could not be reached (ECONNRESET)');
    expect(seen).toEqual(['answered', 'reset', 'answered', 'reset']);
  });

  test("a site that cannot be reached is named by the system's code only: its address and host name are not the callers' to read", async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    // A name that resolves nowhere: ENOTFOUND, or EAI_AGAIN without a resolver.
    for (const [endpoint, code] of [[`http://127.0.0.1:${port}/graphql`, /^ECONNREFUSED$/], ['http://rsp-site-that-does-not-exist.invalid/graphql', /^(ENOTFOUND|EAI_AGAIN)$/]] as const) {
      const site = siteHttpExecutor({ endpoint, timeoutMs: 20_000, headers: () => ({}) });
      executors.push(site);
      const failed = (await site.executor({ document: parse('{ a }'), variables: {}, context: {} } as ExecutionRequest)) as ExecutionResult;
      expect(codeOf(failed)).toBe('SUBREQUEST_HTTP_ERROR');
      const message = failed.errors![0]!.message;
      expect(message).toMatch(/^The site could not be reached \(([A-Z_]+)\)$/);
      expect(/\(([A-Z_]+)\)/.exec(message)![1]).toMatch(code);
    }
  });
});

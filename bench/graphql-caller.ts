import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/**
 * A bench's GraphQL client on its gateway: POSTs `query` with `variables` as `token`, resolves with
 * `data`, and throws the GraphQL errors as they came. It runs in the bench's own process, beside
 * the gateway it measures, so it is lean: `node:http` over kept-alive connections (`fetch` cost
 * about 1 ms of CPU per request there, counted against the gateway path).
 */
export function graphqlCaller(url: string, token: string): (query: string, variables?: Record<string, unknown>) => Promise<Record<string, any>> {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  const agent = secure ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  const send = secure ? httpsRequest : httpRequest;
  return (query, variables = {}) =>
    new Promise((resolve, reject) => {
      const payload = Buffer.from(JSON.stringify({ query, variables }));
      const req = send(target, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': payload.length, authorization: `Bearer ${token}` } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: { data?: Record<string, any>; errors?: unknown[] };
          try {
            body = JSON.parse(text) as typeof body;
          } catch {
            reject(new Error(`HTTP ${res.statusCode}: not JSON: ${text.slice(0, 200)}`));
            return;
          }
          if (body.errors) reject(new Error(JSON.stringify(body.errors)));
          else resolve(body.data!);
        });
      });
      req.on('error', reject);
      req.end(payload);
    });
}

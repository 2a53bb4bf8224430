/**
 * A bench's GraphQL client on its gateway: POSTs `query` with `variables` as `token`, resolves with
 * `data`, and throws the GraphQL errors as they came.
 */
export function graphqlCaller(url: string, token: string): (query: string, variables?: Record<string, unknown>) => Promise<Record<string, any>> {
  return async (query, variables = {}) => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
    const body = (await res.json()) as { data?: Record<string, any>; errors?: unknown[] };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data!;
  };
}

/**
 * graphql-js in its production mode unless NODE_ENV says otherwise. graphql-js 16 decides once,
 * when its `jsutils/instanceOf` module is first loaded, by `process.env.NODE_ENV === 'production'`:
 * in development mode every `instanceof` check of its own that fails (`isObjectType`,
 * `isListType`, … on every field of every request) also compares class names, to report a
 * second copy of graphql in the process (5–6 % of the federation's CPU). Imported first by the
 * entries that serve (`rsp`'s CLI, so `rsp serve`, `rsp federate`, `rsp agent` and `npm start`),
 * before anything imports graphql: when NODE_ENV is unset it is `production` only while that
 * module loads, then unset again, so what else follows NODE_ENV (RSP's IDE and anonymous
 * introspection defaults, GraphQL Yoga's error masking) keeps its development behaviour. A set
 * NODE_ENV (`development`, Jest's `test`) is left to decide as it always did.
 */
if (process.env.NODE_ENV === undefined) {
  process.env.NODE_ENV = 'production';
  try {
    require('graphql/jsutils/instanceOf');
  } finally {
    delete process.env.NODE_ENV;
  }
}

export {};

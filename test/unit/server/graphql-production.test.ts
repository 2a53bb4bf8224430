import { GraphQLScalarType } from 'graphql';

/** A value with the class name of graphql's scalar type but not one: development mode throws on it (a second copy of graphql), production mode answers no. */
const lookalike = { [Symbol.toStringTag]: 'GraphQLScalarType' };

/** With NODE_ENV as given: loads graphql-production then graphql-js's instanceOf afresh; the mode it took and NODE_ENV afterwards. */
function loadedWith(nodeEnv: string | undefined): { production: boolean; nodeEnv: string | undefined } {
  const saved = process.env.NODE_ENV;
  if (nodeEnv === undefined) delete process.env.NODE_ENV;
  else process.env.NODE_ENV = nodeEnv;
  try {
    let loaded!: { production: boolean; nodeEnv: string | undefined };
    jest.isolateModules(() => {
      require('../../../gateway/server/graphql-production');
      const after = process.env.NODE_ENV;
      const { instanceOf } = require('graphql/jsutils/instanceOf') as { instanceOf: (value: unknown, constructor: unknown) => boolean };
      let production: boolean;
      try {
        production = !instanceOf(lookalike, GraphQLScalarType);
      } catch {
        production = false;
      }
      loaded = { production, nodeEnv: after };
    });
    return loaded;
  } finally {
    if (saved === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = saved;
  }
}

/** rsp's CLI loads graphql-js in production mode unless NODE_ENV is set, and leaves NODE_ENV as it was. */
describe('graphql-production', () => {
  test('with NODE_ENV unset: graphql-js in production mode, NODE_ENV unset again', () => {
    expect(loadedWith(undefined)).toEqual({ production: true, nodeEnv: undefined });
  });

  test.each(['development', 'test'])('with NODE_ENV=%s: graphql-js in development mode (Jest runs so), NODE_ENV kept', (nodeEnv) => {
    expect(loadedWith(nodeEnv)).toEqual({ production: false, nodeEnv });
  });

  test('with NODE_ENV=production: production mode, as always', () => {
    expect(loadedWith('production')).toEqual({ production: true, nodeEnv: 'production' });
  });
});

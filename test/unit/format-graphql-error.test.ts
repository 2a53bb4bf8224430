import { GraphQLError } from 'graphql';
import pino from 'pino';
import { QueryFailedError } from 'typeorm';
import { ArgumentValidationError } from 'type-graphql';
import { MAX_DETAIL_ENTRIES, MAX_DETAIL_STRING_CHARS, MAX_DETAILS_CHARS, MAX_ERROR_MESSAGE_CHARS } from '../../gateway/errors/format-graphql-error';
import { BadInputError, ConflictError, formatGraphQLError, graphQLErrorCode, NotFoundError, OUTAGE_RETRY_AFTER_SECONDS, outageOf, RSP_ERROR_BRAND, RspError, UnsupportedOperationError } from '../../gateway/errors';

const logged: unknown[] = [];
const logger = pino({ level: 'warn' }, { write: (line: string) => logged.push(JSON.parse(line)) });

function format(original: unknown) {
  const error = new GraphQLError('boom', { originalError: original as Error, path: ['x'] });
  return formatGraphQLError(error.toJSON(), error, logger, 'req-1');
}

describe('formatGraphQLError', () => {
  beforeEach(() => (logged.length = 0));

  test.each([
    [new BadInputError('amount must be positive'), 'BAD_USER_INPUT'],
    [new NotFoundError('Group', 'g1'), 'NOT_FOUND'],
    [new ConflictError('lost the race'), 'CONFLICT'],
    [new UnsupportedOperationError('snapshot', 'driver docker'), 'UNSUPPORTED_OPERATION'],
  ])('%s maps to %s with its message', (err, code) => {
    const out = format(err);
    expect(out.extensions?.code).toBe(code);
    expect(out.message).toBe(err.message);
    expect(logged).toHaveLength(0);
  });

  test('a message quoting megabytes of input is cut, saying how much was left out', () => {
    const sent = 'x'.repeat(2 * 1024 * 1024);
    const message = `"${sent}" is not an environment name`;
    const out = format(new BadInputError(message));
    expect(out.extensions?.code).toBe('BAD_USER_INPUT');
    expect(out.message.length).toBeLessThan(MAX_ERROR_MESSAGE_CHARS + 50);
    // Its start and its end: the reason after the quoted value still shows.
    expect(out.message).toBe(`"${'x'.repeat(MAX_ERROR_MESSAGE_CHARS - 501)}… (${message.length - MAX_ERROR_MESSAGE_CHARS} characters left out) …${message.slice(-500)}`);
    expect(out.message.endsWith('" is not an environment name')).toBe(true);
    // Never between the halves of a surrogate pair.
    const emoji = format(new BadInputError(`${'a'.repeat(MAX_ERROR_MESSAGE_CHARS - 501)}😀${'b'.repeat(10_000)}😀${'c'.repeat(499)}`));
    expect(emoji.message.startsWith(`${'a'.repeat(MAX_ERROR_MESSAGE_CHARS - 501)}… (`)).toBe(true);
    expect(emoji.message.endsWith(`) …${'c'.repeat(499)}`)).toBe(true);
    expect(format(new BadInputError('short')).message).toBe('short');
  });

  test('details quoting what was sent are bounded too: strings, keys, lists, nesting and the whole', () => {
    const sent = 'x'.repeat(2 * 1024 * 1024);
    const quoted = format(new BadInputError('bad metric', { metric: sent, at: new Date(0) }));
    expect(quoted.extensions?.details).toEqual({ metric: `${'x'.repeat(MAX_DETAIL_STRING_CHARS - 250)}… (${sent.length - MAX_DETAIL_STRING_CHARS} characters left out) …${'x'.repeat(250)}`, at: '1970-01-01T00:00:00.000Z' });

    const many = format(new BadInputError('bad ids', { ids: Array.from({ length: 10_000 }, (_, i) => i), [sent]: true }));
    const details = many.extensions?.details as { ids: unknown[] } & Record<string, unknown>;
    expect(details.ids).toHaveLength(MAX_DETAIL_ENTRIES + 1);
    expect(details.ids[MAX_DETAIL_ENTRIES]).toBe(`… (${10_000 - MAX_DETAIL_ENTRIES} more entries)`);
    expect(Object.keys(details).every((key) => key.length < MAX_DETAIL_STRING_CHARS + 40)).toBe(true);

    let deep: Record<string, unknown> = { bottom: true };
    for (let i = 0; i < 10_000; i++) deep = { deeper: deep };
    expect(JSON.stringify(format(new BadInputError('deep', { value: deep })).extensions?.details).length).toBeLessThan(500);

    // Fifty strings of a thousand characters each: bounded one by one, over the whole bound together.
    const wide = Object.fromEntries(Array.from({ length: MAX_DETAIL_ENTRIES }, (_, i) => [`k${i}`, sent]));
    const whole = format(new BadInputError('wide', wide)).extensions?.details as Record<string, unknown>;
    expect(JSON.stringify(whole).length).toBeLessThanOrEqual(MAX_DETAILS_CHARS);
    expect(whole).toEqual({ omitted: expect.stringMatching(/^the details were \d+ characters long; at most 16000 are sent$/) });

    // Problems of class-validator and details of an error raised with its own code likewise.
    const problems = format(new ArgumentValidationError(Array.from({ length: 5000 }, (_, i) => ({ property: `p${i}`, constraints: { max: 'too long' }, children: [] }))));
    expect((problems.extensions?.details as { problems: unknown[] }).problems).toHaveLength(MAX_DETAIL_ENTRIES + 1);
    const own = new GraphQLError('refused', { extensions: { code: 'BAD_USER_INPUT', details: { path: sent } } });
    expect(JSON.stringify(formatGraphQLError(own.toJSON(), own, logger).extensions?.details).length).toBeLessThan(MAX_DETAIL_STRING_CHARS + 100);
    // Small details are left as they were.
    expect(format(new NotFoundError('Group', 'g1')).extensions?.details).toEqual({ kind: 'Group', id: 'g1' });
  });

  test('unsupported operations name the driver and the operation', () => {
    const out = format(new UnsupportedOperationError('snapshot', 'driver docker'));
    expect(out.message).toBe('driver docker does not support snapshot');
    expect(out.extensions?.details).toEqual({ operation: 'snapshot', by: 'driver docker' });
  });

  test('unknown errors are hidden from the caller and logged with the request id', () => {
    const out = format(new TypeError('cannot read x of undefined'));
    expect(out.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(out.message).not.toMatch(/cannot read/);
    expect(out.message).toMatch(/req-1/);
    expect(JSON.stringify(out)).not.toMatch(/stack|TypeError/);
    expect(logged).toEqual([expect.objectContaining({ requestId: 'req-1', msg: 'internal error' })]);
  });

  test('class-validator failures list each field', () => {
    const out = format(new ArgumentValidationError([{ property: 'amount', constraints: { min: 'amount must not be less than 0' }, children: [] }]));
    expect(out.extensions?.code).toBe('BAD_USER_INPUT');
    expect(out.message).toBe('Invalid input: amount: amount must not be less than 0');
  });

  test('database errors a caller can cause get a caller code', () => {
    const bad = new QueryFailedError('SELECT', [], Object.assign(new Error('invalid input syntax for type uuid: "zz"'), { code: '22P02' }));
    expect(format(bad)).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: 'Not an id: "zz" (ids are UUIDs)' });
    const other = new QueryFailedError('SELECT', [], Object.assign(new Error('invalid input syntax for type integer: "x"'), { code: '22P02' }));
    expect(format(other)).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: 'Invalid value: invalid input syntax for type integer: "x"' });
    const date = new QueryFailedError('SELECT', [], Object.assign(new Error('date/time field value out of range: "0000-01-01T00:00:00.000Z"'), { code: '22008' }));
    expect(format(date)).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: 'Date out of range: date/time field value out of range: "0000-01-01T00:00:00.000Z"' });
    const long = new QueryFailedError('INSERT', [], Object.assign(new Error('value too long for type character varying(100)'), { code: '22001' }));
    expect(format(long)).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: 'Value too long: value too long for type character varying(100)' });
    // A full disk, the database's or the stores', says so (UNAVAILABLE) instead of an internal error.
    const full = new QueryFailedError('INSERT', [], Object.assign(new Error('could not extend file "base/5/1": No space left on device'), { code: '53100' }));
    expect(format(full)).toMatchObject({ extensions: { code: 'UNAVAILABLE', details: { reason: 'DISK_FULL' } }, message: 'The database is out of disk space (could not extend file "base/5/1": No space left on device): its operators must free space on its disk' });
    const store = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
    expect(format(store)).toMatchObject({ extensions: { code: 'UNAVAILABLE', details: { reason: 'DISK_FULL' } }, message: "The gateway's storage is full (no space left on device): its operators must free space on it" });
    const dup = new QueryFailedError('INSERT', [], Object.assign(new Error('dup'), { code: '23505', detail: 'Key (slug)=(a) already exists.' }));
    expect(format(dup)).toMatchObject({ extensions: { code: 'CONFLICT' }, message: 'Already exists: Key (slug)=(a) already exists.' });
  });

  test('errors of another copy of the SDK (a plugin\'s own) keep their codes: they are recognised by brand', () => {
    let other!: typeof import('../../packages/sdk/src/errors');
    jest.isolateModules(() => {
      other = require('../../packages/sdk/src/errors');
    });
    const notFound = new other.NotFoundError('Environment', 'e1');
    const unsupported = new other.UnsupportedOperationError('migrate', 'driver sandbox');
    expect(notFound).not.toBeInstanceOf(RspError);
    expect(format(notFound)).toMatchObject({ message: 'Environment e1 was not found', extensions: { code: 'NOT_FOUND', details: { kind: 'Environment', id: 'e1' } } });
    expect(format(unsupported)).toMatchObject({ message: 'driver sandbox does not support migrate', extensions: { code: 'UNSUPPORTED_OPERATION' } });
    expect(logged).toHaveLength(0);
  });

  test('an error with a category but no brand, or a brand but no known category, stays internal', () => {
    const shapeOnly = Object.assign(new Error('looks like one'), { category: 'NOT_FOUND', details: {} });
    const unknownCategory = Object.assign(new Error('branded'), { [RSP_ERROR_BRAND]: true, category: 'TEAPOT', details: {} });
    expect(format(shapeOnly).extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(format(unknownCategory).extensions?.code).toBe('INTERNAL_SERVER_ERROR');
  });

  test('request errors (parse, validation) keep their codes', () => {
    const parse = new GraphQLError('Syntax Error', { extensions: { code: 'GRAPHQL_PARSE_FAILED' } });
    expect(formatGraphQLError(parse.toJSON(), parse, logger).extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
  });
});

describe('outages', () => {
  beforeEach(() => (logged.length = 0));
  const pgConnectError = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED', syscall: 'connect' });

  test.each([
    ['a refused connection', pgConnectError(), 'database'],
    ['a refused connection to several addresses', Object.assign(new AggregateError([pgConnectError()]), { code: 'ECONNREFUSED' }), 'database'],
    ['a query on a lost connection (through TypeORM)', new QueryFailedError('SELECT 1', [], new Error('Connection terminated unexpectedly')), 'database'],
    ['an exhausted pool', new Error('timeout exceeded when trying to connect'), 'database'],
    ['a server shutting down', new QueryFailedError('SELECT 1', [], Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })), 'database'],
    ['too many connections', Object.assign(new Error('sorry, too many clients already'), { code: '53300' }), 'database'],
    ['Redis unreachable', Object.assign(new Error('Reached the max retries per request limit (which is 3). Refer to "maxRetriesPerRequest" option for details.'), { name: 'MaxRetriesPerRequestError' }), 'redis'],
    ['a closed Redis connection', new Error('Connection is closed.'), 'redis'],
  ])('%s is UNAVAILABLE (retryable), with the dependency named, and logged as a warning', (_what, err, dependency) => {
    const out = format(err);
    expect(out.extensions).toEqual({ code: 'UNAVAILABLE', details: { dependency, retryAfterSeconds: OUTAGE_RETRY_AFTER_SECONDS } });
    expect(out.message).toMatch(/unreachable; retry/);
    expect(logged).toEqual([expect.objectContaining({ level: 40, dependency, msg: 'dependency unreachable' })]);
    expect(graphQLErrorCode(new GraphQLError('boom', { originalError: err }))).toBe('UNAVAILABLE');
  });

  test('errors raised on purpose keep their category, whatever their message', () => {
    expect(outageOf(new ConflictError('Connection terminated by the agent'))).toBeUndefined();
    expect(outageOf(new TypeError('x'))).toBeUndefined();
    expect(outageOf(new QueryFailedError('SELECT', [], Object.assign(new Error('dup'), { code: '23505' })))).toBeUndefined();
  });
});

import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RspProcess, runRsp, spawnRsp } from '../helpers/cli';
import { until } from '../helpers/until';

const run = promisify(execFile);

/** A CA and a certificate it signs for 127.0.0.1 and localhost, made with openssl (argument arrays). */
async function makeCertificates(dir: string, name: string): Promise<{ ca: string; cert: string; key: string }> {
  const f = (file: string) => join(dir, `${name}-${file}`);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', `/CN=rsp test CA ${name}`]);
  await run('openssl', ['req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost']);
  writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await run('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '2', '-extfile', f('ext.cnf')]);
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key') };
}

/** A self-signed certificate valid in 2020 only (`openssl ca` takes start and end dates). */
async function makeExpiredCertificate(dir: string): Promise<{ cert: string; key: string }> {
  const f = (file: string) => join(dir, `expired-${file}`);
  writeFileSync(f('ca.cnf'), `[ca]\ndefault_ca = d\n[d]\ndatabase = ${f('index')}\nnew_certs_dir = ${dir}\nserial = ${f('serial')}\ndefault_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n`);
  writeFileSync(f('index'), '');
  writeFileSync(f('serial'), '01\n');
  await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost']);
  await run('openssl', ['ca', '-batch', '-config', f('ca.cnf'), '-selfsign', '-keyfile', f('server.key'), '-in', f('server.csr'), '-out', f('server.pem'), '-startdate', '20200101000000Z', '-enddate', '20210101000000Z', '-notext']);
  return { cert: f('server.pem'), key: f('server.key') };
}

const ENV = { RSP_DRIVERS: 'fake', DATABASE_URL: '', REDIS_URL: undefined, LOG_FORMAT: 'json', LOG_LEVEL: 'warn', RSP_BOOTSTRAP_IMAGE: 'off', RSP_CA_FILE: undefined, RSP_URL: undefined, RSP_TOKEN: undefined };

/**
 * `rsp serve --tls-cert --tls-key`: HTTPS and WSS on one port. The CLI, a subscription and an
 * agent verify the certificate: refused without the CA, working with `--ca` / RSP_CA_FILE; a
 * renewed certificate is taken on SIGHUP.
 */
describe('TLS: rsp serve --tls-cert --tls-key', () => {
  let dir: string;
  let first: { ca: string; cert: string; key: string };
  let second: { ca: string; cert: string; key: string };
  let expired: { cert: string; key: string };
  let server: RspProcess;
  let url: string;
  let token: string;
  const processes: RspProcess[] = [];
  const rsp = (args: string[], env: Record<string, string | undefined> = {}) => runRsp(['--url', url, '--token', token, ...args], { ...ENV, RSP_CLI_CONFIG: join(dir, 'cli.json'), ...env });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rsp-tls-'));
    [first, second, expired] = await Promise.all([makeCertificates(dir, 'first'), makeCertificates(dir, 'second'), makeExpiredCertificate(dir)]);
    // The served files, replaced by the second pair before the SIGHUP test.
    copyFileSync(first.cert, join(dir, 'live.pem'));
    copyFileSync(first.key, join(dir, 'live.key'));
    server = spawnRsp(['serve', '--port', '0', '--data-dir', join(dir, 'data'), '--tls-cert', join(dir, 'live.pem'), '--tls-key', join(dir, 'live.key')], ENV, dir);
    processes.push(server);
    url = (await server.waitFor(/GraphQL endpoint:\s+(https:\/\/\S+)\/graphql/, 120_000))[1]!;
    token = (await server.waitFor(/shown ONCE[^\n]*\n\s+(rsp_\S+)/))[1]!;
  });
  afterAll(async () => {
    for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
    await Promise.all(processes.map((p) => p.exited));
    rmSync(dir, { recursive: true, force: true });
  });

  test('the banner gives https:// and wss:// addresses; the CLI refuses an unknown CA and works with --ca or RSP_CA_FILE', async () => {
    expect(server.output().stdout).toMatch(/Subscriptions:\s+wss:\/\/127\.0\.0\.1:\d+\/graphql/);
    const untrusted = await rsp(['group', 'list']);
    expect(untrusted.code).toBe(3);
    expect(untrusted.stderr).toMatch(/cannot reach the gateway at https:\/\/.*(SELF_SIGNED|UNABLE_TO_VERIFY|certificate)/i);
    const withFlag = await rsp(['--ca', first.ca, 'group', 'list']);
    expect(withFlag).toMatchObject({ code: 0, stdout: expect.stringMatching(/admin/) });
    const withEnv = await rsp(['group', 'list'], { RSP_CA_FILE: first.ca });
    expect(withEnv).toMatchObject({ code: 0, stdout: expect.stringMatching(/admin/) });
    // Another CA does not vouch for this certificate: one line that says so, no stack.
    const otherCa = await rsp(['--ca', second.ca, 'group', 'list']);
    expect(otherCa.code).toBe(3);
    expect(otherCa.stderr).toMatch(/^rsp: cannot reach the gateway at https:\/\/\S+: .*(UNABLE_TO_VERIFY|SELF_SIGNED|certificate)/i);
    expect(otherCa.stderr).not.toMatch(/^\s+at /m);
    // A file that is no certificate is a usage error naming it.
    const bad = await rsp(['--ca', join(dir, 'first-ext.cnf'), 'group', 'list']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--ca: .*first-ext\.cnf holds no PEM certificate/);
  });

  test('a subscription over wss:// (rsp top) gets this host\'s samples', async () => {
    const top = await rsp(['--ca', first.ca, 'top', '--once', '--json']);
    expect(top.code).toBe(0);
    expect(top.stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'host', memory: expect.objectContaining({ totalBytes: expect.any(Number) }) })]));
  });

  test('an agent enrols over wss:// with --ca; without it, it says the certificate is not trusted', async () => {
    const join1 = JSON.parse((await rsp(['--ca', first.ca, '--json', 'agent', 'token', 'create', 'tls-agent'])).stdout).token as string;
    const refused = spawnRsp(['agent', '--gateway', url, '--token', join1, '--drivers', 'fake', '--data-dir', join(dir, 'agent-refused')], { ...ENV, LOG_LEVEL: 'info' });
    processes.push(refused);
    await refused.waitFor(/SELF_SIGNED|UNABLE_TO_VERIFY|self[- ]signed|certificate/i);
    refused.child.kill('SIGTERM');
    await refused.exited;
    const agent = spawnRsp(['agent', '--gateway', url, '--token', join1, '--ca', first.ca, '--drivers', 'fake', '--data-dir', join(dir, 'agent')], { ...ENV, LOG_LEVEL: 'info' });
    processes.push(agent);
    await agent.waitFor(/connected to the gateway/);
    agent.child.kill('SIGTERM');
    expect((await agent.exited).code).toBe(0);
  });

  test('rsp serve with an expired certificate or a key of another one exits 2 naming the setting, before it opens or makes a database', async () => {
    const data = join(dir, 'refused-data');
    const stale = await runRsp(['serve', '--port', '0', '--data-dir', data, '--tls-cert', expired.cert, '--tls-key', expired.key], ENV, dir);
    expect(stale.code).toBe(2);
    expect(stale.stderr).toMatch(/RSP_TLS_CERT: .*expired on 2021-01-01T00:00:00\.000Z: renew it/);
    const mismatched = await runRsp(['serve', '--port', '0', '--data-dir', data, '--tls-cert', first.cert, '--tls-key', second.key], ENV, dir);
    expect(mismatched.code).toBe(2);
    expect(mismatched.stderr).toMatch(/RSP_TLS_KEY: .*second-server\.key is not the key of the certificate .*first-server\.pem/);
    expect(existsSync(data)).toBe(false);
  });

  test('SIGHUP takes a renewed certificate for new connections', async () => {
    copyFileSync(second.cert, join(dir, 'live.pem'));
    copyFileSync(second.key, join(dir, 'live.key'));
    server.child.kill('SIGHUP');
    // The signal is handled asynchronously: retry until the renewed certificate is served.
    await until('the renewed certificate is served', async () => (await rsp(['--ca', second.ca, 'group', 'list'])).code === 0, 60_000);
    expect((await rsp(['--ca', first.ca, 'group', 'list'])).code).toBe(3);
    // A renewal gone wrong (here: an expired certificate) is refused; the one served stays.
    copyFileSync(expired.cert, join(dir, 'live.pem'));
    copyFileSync(expired.key, join(dir, 'live.key'));
    server.child.kill('SIGHUP');
    await server.waitFor(/expired on 2021-01-01T00:00:00\.000Z[^\n]*TLS certificate not reloaded; the previous one is still served/);
    expect((await rsp(['--ca', second.ca, 'group', 'list'])).code).toBe(0);
  });
});

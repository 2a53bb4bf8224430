import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { certificateProblems } from '../../gateway/server/tls';

const run = promisify(execFile);

/** A self-signed certificate and its key, made with openssl; `expired`: valid in 2020 only (signed with `openssl ca`, which takes dates). */
async function makePair(dir: string, name: string, expired = false): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-subj', `/CN=${name}`];
  if (!expired) {
    await run('openssl', ['req', '-x509', ...ec, '-out', cert, '-days', '2']);
    return { cert, key };
  }
  const ca = join(dir, `${name}-ca`);
  writeFileSync(`${ca}.cnf`, `[ca]\ndefault_ca = d\n[d]\ndatabase = ${ca}.index\nnew_certs_dir = ${dir}\nserial = ${ca}.serial\ndefault_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n`);
  writeFileSync(`${ca}.index`, '');
  writeFileSync(`${ca}.serial`, '01\n');
  await run('openssl', ['req', '-new', ...ec, '-out', `${ca}.csr`]);
  await run('openssl', ['ca', '-batch', '-config', `${ca}.cnf`, '-selfsign', '-keyfile', key, '-in', `${ca}.csr`, '-out', cert, '-startdate', '20200101000000Z', '-enddate', '20210101000000Z', '-notext']);
  return { cert, key };
}

/** What `rsp serve` and `rsp config check` refuse about the TLS files: each problem names its setting and says what is wrong. */
describe('TLS files', () => {
  let dir: string;
  let a: { cert: string; key: string };
  let b: { cert: string; key: string };
  let old: { cert: string; key: string };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rsp-tls-files-'));
    [a, b, old] = await Promise.all([makePair(dir, 'a'), makePair(dir, 'b'), makePair(dir, 'old', true)]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('a certificate and its key: no problem; without TLS nothing is read', () => {
    expect(certificateProblems({ tlsCert: a.cert, tlsKey: a.key })).toEqual([]);
    expect(certificateProblems({})).toEqual([]);
  });

  test('the key of another certificate', () => {
    expect(certificateProblems({ tlsCert: a.cert, tlsKey: b.key })).toEqual([{ variable: 'RSP_TLS_KEY', problem: `${b.key} is not the key of the certificate ${a.cert}` }]);
  });

  test('an expired certificate, with the date it expired', () => {
    expect(certificateProblems({ tlsCert: old.cert, tlsKey: old.key })).toEqual([{ variable: 'RSP_TLS_CERT', problem: `${old.cert} expired on 2021-01-01T00:00:00.000Z: renew it` }]);
  });

  test('files swapped, or not PEM: each named under its own setting', () => {
    expect(certificateProblems({ tlsCert: a.key, tlsKey: a.cert })).toEqual([
      { variable: 'RSP_TLS_CERT', problem: expect.stringMatching(new RegExp(`^${a.key} is not a PEM certificate`)) },
      { variable: 'RSP_TLS_KEY', problem: expect.stringMatching(new RegExp(`^${a.cert} is not a PEM private key`)) },
    ]);
  });

  test('missing or unreadable files', () => {
    expect(certificateProblems({ tlsCert: join(dir, 'absent.pem'), tlsKey: a.key })).toEqual([{ variable: 'RSP_TLS_CERT', problem: `cannot read ${join(dir, 'absent.pem')}: ENOENT` }]);
    // A folder where the key should be: unreadable as a file, for root too.
    expect(certificateProblems({ tlsCert: a.cert, tlsKey: dir })).toEqual([{ variable: 'RSP_TLS_KEY', problem: `cannot read ${dir}: EISDIR` }]);
  });
});

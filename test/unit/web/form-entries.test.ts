import { keyValues } from '../../../web/src/ui/form';
import { parsePorts, parseVolumes } from '../../../web/src/views/forms/entries';

describe("the dashboard forms' text entries", () => {
  test('config values: KEY=value lines, blank lines and # comments skipped, = kept in values', () => {
    expect(keyValues('SITE=alpha\n\n# note\n  MODE = test \nURL=http://x/?a=b')).toEqual({ SITE: 'alpha', MODE: 'test', URL: 'http://x/?a=b' });
    expect(keyValues('')).toEqual({});
    expect(() => keyValues('A=1\nNOT A PAIR')).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT', message: 'Line 2 ("NOT A PAIR") is not KEY=value' }));
    expect(() => keyValues('=value')).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT' }));
  });

  test('volumes: name:/mount/path, :ro for read-only', () => {
    expect(parseVolumes('data:/data\n conf:/etc/app:ro \n')).toEqual([
      { name: 'data', mountPath: '/data', readOnly: false, kind: 'data' },
      { name: 'conf', mountPath: '/etc/app', readOnly: true, kind: 'data' },
    ]);
    for (const bad of ['data', 'data:relative', 'data:/d:rw']) expect(() => parseVolumes(bad)).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT' }));
  });

  test('ports: hostPort:port with tcp by default, /udp, comma or space separated', () => {
    expect(parsePorts('8080:80, 5353:53/udp 2222:22/tcp')).toEqual([
      { hostPort: 8080, port: 80, protocol: 'tcp' },
      { hostPort: 5353, port: 53, protocol: 'udp' },
      { hostPort: 2222, port: 22, protocol: 'tcp' },
    ]);
    expect(parsePorts('')).toEqual([]);
    for (const bad of ['80', '80:x', '8080:80/sctp']) expect(() => parsePorts(bad)).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT' }));
  });
});

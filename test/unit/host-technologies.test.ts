import { RspError } from '../../gateway/errors';
import { effectiveTechnologies, hostTechnologies, usableTechnologies } from '../../gateway/services/host-technologies';

test('a probe gives its usable technologies once each, in its order', () => {
  expect(usableTechnologies([{ technology: 'lxc', available: true }, { technology: 'docker', available: false }, { technology: 'fake', available: true }, { technology: 'lxc', available: true }])).toEqual(['lxc', 'fake']);
});

test('effective: the declared list until the agent reported; then the probed ones, narrowed in the admin\'s order', () => {
  expect(effectiveTechnologies(null, ['lxc', 'docker'])).toEqual(['lxc', 'docker']);
  expect(effectiveTechnologies(null, null)).toEqual([]);
  expect(effectiveTechnologies(['docker', 'lxc'], null)).toEqual(['docker', 'lxc']);
  expect(effectiveTechnologies(['docker', 'lxc'], ['lxc', 'docker'])).toEqual(['lxc', 'docker']);
  expect(effectiveTechnologies(['docker'], ['lxc', 'docker'])).toEqual(['docker']);
});

test('an admin may narrow what the probe found, not add to it', () => {
  expect(hostTechnologies('a', ['docker', 'lxc'], ['lxc', 'lxc'])).toEqual({ probedDrivers: ['docker', 'lxc'], allowedDrivers: ['lxc'], drivers: ['lxc'] });
  expect(hostTechnologies('a', null, ['kvm'])).toEqual({ probedDrivers: null, allowedDrivers: ['kvm'], drivers: ['kvm'] });
  let error: unknown;
  try {
    hostTechnologies('a', ['docker'], ['docker', 'kvm']);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(RspError);
  expect(error).toMatchObject({ category: 'BAD_USER_INPUT', message: 'Host agent "a" cannot run kvm: its probe found docker', details: { agent: 'a', missing: ['kvm'], probed: ['docker'] } });
});

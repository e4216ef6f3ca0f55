import assert from 'node:assert/strict';
import { test } from 'node:test';
import { groupSetting, lookupGroup, lookupUser, umaskSetting, userSetting, workerOwner } from '../../src/config/privileges.js';
import { ConfigError } from '../../src/errors.js';

test('--umask takes numbers and the strings Gunicorn takes (0o22, 022, 0x12, 18)', () => {
  for (const [raw, want] of [
    [0, 0],
    [18, 0o22],
    ['0', 0],
    ['0o22', 0o22],
    ['0O027', 0o27],
    ['022', 0o22],
    ['0022', 0o22],
    ['0x12', 0o22],
    ['18', 18],
    ['0o777', 0o777],
  ] as const) {
    assert.equal(umaskSetting(raw, 'umask'), want, `umask ${raw}`);
  }
  for (const bad of ['0o8', '08', 'abc', '-1', 0o1000, -1, 1.5, true, '']) {
    assert.throws(() => umaskSetting(bad, 'umask'), (e: unknown) => e instanceof ConfigError && e.setting === 'umask', `umask ${String(bad)}`);
  }
});

test('--user and --group take names and numbers; unknown names are config errors', () => {
  assert.equal(userSetting('root', 'user'), 0);
  assert.equal(userSetting('0', 'user'), 0);
  assert.equal(userSetting(1234, 'user'), 1234);
  assert.equal(userSetting(null, 'user'), null);
  assert.equal(groupSetting('root', 'group'), 0);
  assert.equal(groupSetting('4242', 'group'), 4242);
  assert.equal(lookupUser('root'), 0);
  assert.equal(lookupGroup('root'), 0);
  assert.equal(lookupUser('no-such-user-tsg'), null);
  assert.throws(() => userSetting('no-such-user-tsg', 'user'), /Invalid value for user: "no-such-user-tsg": no such user/);
  assert.throws(() => groupSetting('no-such-group-tsg', 'group'), /Invalid value for group: "no-such-group-tsg": no such group/);
  assert.throws(() => userSetting(-3, 'user'), ConfigError);
  assert.throws(() => groupSetting('', 'group'), ConfigError);
});

test('--user without --group takes the user\'s primary group; nothing given changes nothing', () => {
  assert.deepEqual(workerOwner({ user: null, group: null, initgroups: false }), { uid: null, gid: null, initgroups: false });
  const nobody = lookupUser('nobody');
  if (nobody !== null && process.getuid?.() !== nobody) {
    const owner = workerOwner({ user: nobody, group: null, initgroups: true });
    assert.equal(owner.uid, nobody);
    assert.equal(typeof owner.gid, 'number');
    assert.equal(owner.initgroups, true);
  }
  assert.deepEqual(workerOwner({ user: 0, group: 7, initgroups: false }), { uid: 0, gid: 7, initgroups: false });
});

import { inspect } from 'node:util';
import { SecretValue } from '../../../src/domain/secret-value';

describe('SecretValue', () => {
  const secret = new SecretValue('pg-admin-password', 'hunter2-very-secret');

  test('reveals its value only on request', () => {
    expect(secret.reveal()).toBe('hunter2-very-secret');
  });

  test('never shows the value when printed, interpolated, serialised or inspected', () => {
    const renderings = [String(secret), `${secret}`, 'x' + secret, JSON.stringify({ secret }), inspect(secret), inspect({ nested: { secret } }, { depth: 5, showHidden: true })];
    for (const text of renderings) expect(text).not.toContain('hunter2');
    expect(inspect(secret)).toContain('pg-admin-password');
  });

  test('can tell whether its value appears in some text', () => {
    expect(secret.appearsIn('PGPASSWORD=hunter2-very-secret')).toBe(true);
    expect(secret.appearsIn('nothing here')).toBe(false);
    expect(new SecretValue('empty', '').appearsIn('anything')).toBe(false);
  });
});

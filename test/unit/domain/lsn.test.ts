import { bytesBetween, compareLsn, isAtOrPast, isLsn, lsnFromBigInt, lsnToBigInt, maxLsn, normalizeLsn } from '../../../src/domain/lsn';
import { InvalidInputError } from '../../../src/domain/errors';

describe('LSN arithmetic', () => {
  it('parses the two 32-bit halves', () => {
    expect(lsnToBigInt('0/0')).toBe(0n);
    expect(lsnToBigInt('0/3000060')).toBe(0x3000060n);
    expect(lsnToBigInt('16/B374D848')).toBe((0x16n << 32n) + 0xb374d848n);
    expect(lsnToBigInt('FFFFFFFF/FFFFFFFF')).toBe(2n ** 64n - 1n);
  });

  it('round-trips through text in canonical form', () => {
    expect(lsnFromBigInt(lsnToBigInt('16/b374d848'))).toBe('16/B374D848');
    expect(normalizeLsn('00000001/0000000A')).toBe('1/A');
  });

  it.each(['', '0', '0/', '/0', '1/2/3', 'G/0', '123456789/0', ' 0/1', 'x'])('rejects %p with a typed error', (text) => {
    expect(isLsn(text)).toBe(false);
    expect(() => lsnToBigInt(text)).toThrow(InvalidInputError);
  });

  it('compares across the 32-bit boundary, not as strings', () => {
    expect(compareLsn('0/FFFFFFFF', '1/0')).toBe(-1);
    expect(compareLsn('A/0', '9/FFFFFFFF')).toBe(1);
    expect(compareLsn('1/a', '1/A')).toBe(0);
    // As strings "10/0" < "9/0"; as positions it is the other way round.
    expect(compareLsn('10/0', '9/0')).toBe(1);
  });

  it('measures bytes between positions, negative when behind', () => {
    expect(bytesBetween('0/FFFFFFF0', '1/10')).toBe(0x20);
    expect(bytesBetween('1/10', '0/FFFFFFF0')).toBe(-0x20);
    expect(bytesBetween('5/5', '5/5')).toBe(0);
  });

  it('knows when a position has reached a target', () => {
    expect(isAtOrPast('0/3000060', '0/3000060')).toBe(true);
    expect(isAtOrPast('0/3000061', '0/3000060')).toBe(true);
    expect(isAtOrPast('0/300005F', '0/3000060')).toBe(false);
  });

  it('finds the furthest position', () => {
    expect(maxLsn('0/5', '1/0', '0/FFFFFFFF')).toBe('1/0');
    expect(maxLsn('0/5')).toBe('0/5');
  });

  it('refuses values outside 64 bits', () => {
    expect(() => lsnFromBigInt(-1n)).toThrow(InvalidInputError);
    expect(() => lsnFromBigInt(2n ** 64n)).toThrow(InvalidInputError);
  });
});

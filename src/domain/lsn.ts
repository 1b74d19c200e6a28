import { InvalidInputError } from './errors';

/**
 * PostgreSQL write-ahead-log positions ("16/B374D848": high and low 32 bits in hex).
 * They cross process and durable-history boundaries as text, so the text form is the type;
 * arithmetic happens on bigint because positions exceed 2^53.
 */
export type Lsn = string;

const LSN_PATTERN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

export function isLsn(text: unknown): text is Lsn {
  return typeof text === 'string' && LSN_PATTERN.test(text);
}

export function lsnToBigInt(lsn: Lsn): bigint {
  const match = LSN_PATTERN.exec(lsn);
  if (!match) {
    throw new InvalidInputError(`"${lsn}" is not a PostgreSQL LSN; expected two hex numbers like "0/3000060"`, { lsn });
  }
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function lsnFromBigInt(value: bigint): Lsn {
  if (value < 0n || value > 0xffffffffffffffffn) {
    throw new InvalidInputError(`LSN value ${value} is outside 0..2^64-1`);
  }
  const high = (value >> 32n).toString(16).toUpperCase();
  const low = (value & 0xffffffffn).toString(16).toUpperCase();
  return `${high}/${low}`;
}

/** Canonical text (upper case, no leading zeros), so equal positions compare equal as strings. */
export function normalizeLsn(lsn: Lsn): Lsn {
  return lsnFromBigInt(lsnToBigInt(lsn));
}

export function compareLsn(a: Lsn, b: Lsn): -1 | 0 | 1 {
  const x = lsnToBigInt(a);
  const y = lsnToBigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Bytes of WAL from `from` to `to`; negative when `to` is behind `from`. */
export function bytesBetween(from: Lsn, to: Lsn): number {
  return Number(lsnToBigInt(to) - lsnToBigInt(from));
}

export function isAtOrPast(lsn: Lsn, target: Lsn): boolean {
  return compareLsn(lsn, target) >= 0;
}

export function maxLsn(first: Lsn, ...rest: Lsn[]): Lsn {
  return rest.reduce((best, lsn) => (compareLsn(lsn, best) > 0 ? lsn : best), first);
}

/**
 * Structured operational log used by the adapters. Fields must never hold a secret's value;
 * SecretValue renders as a placeholder if one slips in.
 */
export interface OperationLog {
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
}

export const silentLog: OperationLog = {
  info: () => undefined,
  warn: () => undefined,
};

const REDACTED = '[redacted secret]';
/** Node's util.inspect hook, by its registered symbol so the domain needs no Node import. */
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/**
 * A secret (a password from Key Vault) that cannot leak by accident: printing, logging,
 * string interpolation and JSON serialisation all show a placeholder. Only `reveal()` gives the
 * value, so every place that needs the real value is a deliberate, greppable call.
 */
export class SecretValue {
  readonly #value: string;
  /** The Key Vault secret name (or another label); safe to log. */
  readonly name: string;

  constructor(name: string, value: string) {
    this.name = name;
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  /** True when `text` contains this secret's value (used to refuse leaking it into plain text). */
  appearsIn(text: string): boolean {
    return this.#value.length > 0 && text.includes(this.#value);
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.toPrimitive](): string {
    return REDACTED;
  }

  [INSPECT](): string {
    return `SecretValue(${this.name}: ${REDACTED})`;
  }
}

/** Where in the product an error happened: every typed error carries what a DBA would ask first. */
export interface ErrorContext {
  cluster?: string;
  node?: string;
  lsn?: string;
  step?: string;
  [key: string]: string | number | boolean | undefined;
}

export class FailoverError extends Error {
  readonly context: ErrorContext;

  constructor(message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.context = context;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, message: this.message, ...this.context };
  }
}

/** A step's decision no longer holds on a fresh look (e.g. after a restart): it was not carried out. */
export class StaleDecisionError extends FailoverError {}

/** A value the operator supplied is wrong; nothing was changed. */
export class InvalidInputError extends FailoverError {}

/** One problem found in a configuration document, named by its path. */
export interface ConfigProblem {
  path: string;
  message: string;
}

export class ConfigError extends InvalidInputError {
  readonly problems: ConfigProblem[];

  constructor(source: string, problems: ConfigProblem[]) {
    const lines = problems.map((p) => `  - ${p.path || '(root)'}: ${p.message}`);
    super(`Invalid cluster configuration in ${source} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines.join('\n')}`);
    this.problems = problems;
  }
}

/**
 * A node route's caller did not prove it is that node's VM: 401 (no usable token), 403 (a valid
 * token of another identity), 503 (the app is not set up to check). Nothing was changed.
 */
export class NodeAuthenticationError extends FailoverError {
  constructor(
    message: string,
    readonly status: 401 | 403 | 503,
    context: ErrorContext = {},
  ) {
    super(message, context);
  }
}

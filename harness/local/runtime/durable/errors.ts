/** Client-facing failures the Durable Task HTTP API maps to status codes, as the extension does. */
export class UnknownOrchestratorError extends Error {
  readonly name = 'ArgumentException';
}

export class InvalidInstanceIdError extends Error {
  readonly name = 'ArgumentException';
}

/** DurableTask.Core's OrchestrationAlreadyExistsException (the extension answers 500 with it). */
export class OrchestrationAlreadyExistsError extends Error {
  readonly name = 'DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException';
}

export class RuntimeStoppedError extends Error {
  constructor() {
    super('the local runtime has been stopped');
  }
}

/**
 * Every custom event and metric the app sends to Application Insights, with the properties
 * (customDimensions) each carries: the one list the Bicep workbook and alert queries are checked
 * against (test/unit/bicep/monitoring.test.ts), and the types that let the code emit nothing else.
 * No property holds a secret, nor free text that could quote one (an error, a script's output, a
 * reason): every value is a name, an id, a count, a time or an outcome. The why of an operation
 * stays in its report (GET .../operations/{id}).
 */
export const TELEMETRY_EVENTS = {
  /** One per step of a finished operation (switchover or failover), sent once it has ended. */
  operationStep: {
    name: 'OperationStep',
    properties: ['operationId', 'cluster', 'kind', 'trigger', 'outcome', 'step', 'stepIndex', 'result', 'startedAt', 'durationMs'],
  },
  /** One per finished operation. */
  operationEnded: {
    name: 'OperationEnded',
    properties: ['operationId', 'cluster', 'kind', 'trigger', 'outcome', 'oldPrimary', 'newPrimary', 'rejoinMethod', 'problems', 'startedAt', 'durationMs'],
  },
  /** One per cluster per run of the timer health check; `verdict` is the cluster monitor's latest. */
  healthCheck: {
    name: 'HealthCheck',
    properties: ['cluster', 'result', 'verdict', 'checkAt'],
  },
  /** One per scheduled event an agent forwarded: what the app answered. */
  scheduledEvent: {
    name: 'ScheduledEventAnswered',
    properties: ['cluster', 'node', 'eventType', 'status', 'verdict', 'result'],
  },
} as const;

export const TELEMETRY_METRICS = {
  /** Bytes of WAL a standby has not received yet from the write pool's primary, at each health check. */
  replicationLagBytes: { name: 'ReplicationLagBytes', instrument: 'histogram', unit: 'By', dimensions: ['cluster', 'node', 'failoverBoundBytes'] },
  /** Health verdicts of the cluster monitor, one count per check. */
  healthVerdicts: { name: 'HealthVerdicts', instrument: 'counter', unit: '{check}', dimensions: ['cluster', 'verdict'] },
  /** Finished operations by outcome. */
  operations: { name: 'Operations', instrument: 'counter', unit: '{operation}', dimensions: ['cluster', 'kind', 'outcome'] },
  /** How long finished operations took, from their first step's start to their last step's end. */
  operationDurationMs: { name: 'OperationDurationMs', instrument: 'histogram', unit: 'ms', dimensions: ['cluster', 'kind', 'outcome'] },
} as const;

export type TelemetryEventKey = keyof typeof TELEMETRY_EVENTS;
export type TelemetryMetricKey = keyof typeof TELEMETRY_METRICS;

/** Every property of one event; all are strings in Application Insights (customDimensions). */
export type EventProperties<K extends TelemetryEventKey> = Record<(typeof TELEMETRY_EVENTS)[K]['properties'][number], string>;
export type MetricDimensions<K extends TelemetryMetricKey> = Record<(typeof TELEMETRY_METRICS)[K]['dimensions'][number], string>;

/** One custom event or one metric measurement, typed by its entry above. */
export type TelemetryRecord =
  | { [K in TelemetryEventKey]: { event: K; properties: EventProperties<K> } }[TelemetryEventKey]
  | { [K in TelemetryMetricKey]: { metric: K; value: number; dimensions: MetricDimensions<K> } }[TelemetryMetricKey];

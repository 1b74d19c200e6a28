/**
 * Local Functions runtime: the app's real registrations and durable orchestrations without the
 * Azure Functions host. See LocalRuntime for the entry point and README.md in this folder.
 */
export { LocalRuntime, type LocalRuntimeOptions, type FunctionSummary } from './local-runtime';
export { funcStart, applyLocalSettings, readHostJson, type FuncStartOptions, type HostJsonSettings } from './func-start';
export { ManualClock, realClock, type Clock } from './clock';
export { createRuntimeLog, stderrSink, type LogSink, type RuntimeLog, type RuntimeLogLevel } from './log';
export type { InstanceState, RuntimeStatus } from './durable/instance-state';
export { EventType, eventTypeName, type HistoryEvent } from './durable/history-events';
export type { FunctionKeys } from './http/function-keys';
export type { HttpHost } from './http/http-host';
export { parseSchedule, type Schedule } from './timers/ncrontab';

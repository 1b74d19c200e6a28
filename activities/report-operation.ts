import { registerActivity } from './catalogue';
import { telemetry } from '../src/telemetry';
import { operationRecords } from '../src/telemetry/records';

/** Idempotent enough: a retried attempt sends the same records again, with the same operation id to tell them apart. */
registerActivity('reportOperation', async ({ report, trigger }) => {
  telemetry().send(operationRecords(report, trigger));
  return null;
});

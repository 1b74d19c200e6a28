import { ActionType, ReplaySchema } from '../../../harness/local/runtime/durable/actions';
import { EventType } from '../../../harness/local/runtime/durable/history-events';

/** The runtime's copies of durable-functions' wire enums must not drift from the installed SDK. */
function sdkEnum(path: string, name: string): Record<string, number> {
  // The enums are internal to the SDK (not exported, no typings), hence require by path.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const module = require(`durable-functions/lib/src/${path}`) as Record<string, Record<string, number | string>>;
  const values = module[name] ?? {};
  return Object.fromEntries(Object.entries(values).filter(([, v]) => typeof v === 'number')) as Record<string, number>;
}

test('history event types match HistoryEventType', () => {
  expect(EventType).toEqual(sdkEnum('history/HistoryEventType', 'HistoryEventType'));
});

test('action types match ActionType (plus the extension-only ScheduledSignalEntity = 10)', () => {
  const { ScheduledSignalEntity, ...rest } = ActionType;
  expect(ScheduledSignalEntity).toBe(10);
  expect(rest).toEqual(sdkEnum('actions/ActionType', 'ActionType'));
});

test('replay schema versions match ReplaySchema', () => {
  expect(ReplaySchema).toEqual(sdkEnum('orchestrations/ReplaySchema', 'ReplaySchema'));
});

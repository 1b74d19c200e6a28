import type { PoolChangeNotifier } from './data-plane';
import type { GuestExecutor } from './guest-executor';
import type { RequestContext } from './http-kit';
import type { LatencyProfile } from './latency';
import type { AsyncOperations } from './operations';
import type { EmulatorRecord } from './record';
import type { EmulatorState, VmPowerState } from './state';
import type { Timers } from './timers';

/** What every route handler works with. */
export interface EmulatorCore {
  state: EmulatorState;
  operations: AsyncOperations;
  timers: Timers;
  latency: LatencyProfile;
  record: EmulatorRecord;
  executor: GuestExecutor;
  pools: PoolChangeNotifier;
  /** Random per-emulator key: identical managed Run Command requests are recognised by a keyed hash, never by stored secrets. */
  fingerprintKey: Buffer;
  /** Random per emulator: the Application Insights component's key, in the connection string the app is given. */
  instrumentationKey: string;
  endpoint(): string;
  powerChanged(vm: string, state: VmPowerState): void;
}

export type RouteHandler = (ctx: RequestContext, match: RegExpExecArray) => Promise<void>;

export interface Route {
  method: string;
  pattern: RegExp;
  handler: RouteHandler;
}

import type { ArmAvailability } from './arm-availability';
import type { PoolChangeNotifier } from './data-plane';
import type { GuestExecutor } from './guest-executor';
import type { RequestContext } from './http-kit';
import type { LatencyProfile } from './latency';
import type { RoleAssignment } from './authorization';
import type { KeyVaultRole } from './world';
import type { AsyncOperations } from './operations';
import type { EntraIssuer } from './entra';
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
  /** The app identity's role on the cluster's resources (authorization.ts). */
  authorization: RoleAssignment;
  /** The app identity's data role on the vault (world.ts keyVaultRole). */
  keyVaultRole: KeyVaultRole;
  /** Random per-emulator key: identical managed Run Command requests are recognised by a keyed hash, never by stored secrets. */
  fingerprintKey: Buffer;
  /** Random per emulator: the Application Insights component's key, in the connection string the app is given. */
  instrumentationKey: string;
  /** Entra ID: signs the VMs' managed identity tokens, publishes the keys (entra.ts). */
  entra: EntraIssuer;
  /** Whether ARM's front door answers (arm-availability.ts); Key Vault, Entra and ingestion stay up. */
  arm: ArmAvailability;
  endpoint(): string;
  powerChanged(vm: string, state: VmPowerState): void;
}

export type RouteHandler = (ctx: RequestContext, match: RegExpExecArray) => Promise<void>;

export interface Route {
  method: string;
  pattern: RegExp;
  /** The RBAC action ARM checks on the requested resource; none for operation-status polls. */
  action?: string;
  handler: RouteHandler;
}

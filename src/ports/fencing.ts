import type { VmRef } from './vm-commands';

/** The VM's power state as Azure reports it (instance view "PowerState/<state>"). */
export type PowerState = 'starting' | 'running' | 'stopping' | 'stopped' | 'deallocating' | 'deallocated' | 'unknown';

export interface FenceOptions {
  /** Deallocate (release the host) instead of powering off; slower, and the VM keeps nothing. */
  deallocate?: boolean;
}

/**
 * Fencing an old primary through the platform: once powerOff resolves, the VM runs no
 * PostgreSQL and accepts no connection, whatever state its guest was in.
 */
export interface Fencing {
  /** Hard power-off (no guest shutdown: a hung guest must not delay the fence). Idempotent. */
  powerOff(vm: VmRef, options?: FenceOptions): Promise<void>;
  powerState(vm: VmRef): Promise<PowerState>;
}

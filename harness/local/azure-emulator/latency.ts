/**
 * How long the emulated Azure takes. `zero` for tests (operations still go through the 202 +
 * polling protocol, they just finish at once); `realistic` for the demo, so outage numbers
 * include the platform's own delays. The realistic numbers are assumptions from field reports,
 * not measurements: Azure documents none of them.
 */
export interface LatencyProfile {
  /** Action Run Command: delay before the script starts (extension dispatch) and after it ends (status upload). */
  actionRunCommand: { dispatchMs: number; reportMs: number };
  /** Managed Run Command (PUT runCommands/{name}), same split. */
  managedRunCommand: { dispatchMs: number; reportMs: number };
  deleteRunCommandMs: number;
  /** NIC PUT (NIC-based pool membership) until the data path follows. */
  nicUpdateMs: number;
  /** backendAddressPools PUT (IP-based pool membership) until the data path follows. */
  poolUpdateMs: number;
  powerOffMs: number;
  deallocateMs: number;
  startMs: number;
  /** Retry-After (seconds) sent while an operation runs; undefined sends none (clients use their own interval). */
  retryAfterSeconds: { compute: number | undefined; network: number | undefined };
}

export const ZERO_LATENCY: LatencyProfile = {
  actionRunCommand: { dispatchMs: 0, reportMs: 0 },
  managedRunCommand: { dispatchMs: 0, reportMs: 0 },
  deleteRunCommandMs: 0,
  nicUpdateMs: 0,
  poolUpdateMs: 0,
  powerOffMs: 0,
  deallocateMs: 0,
  startMs: 0,
  retryAfterSeconds: { compute: undefined, network: undefined },
};

export const REALISTIC_LATENCY: LatencyProfile = {
  // "Run Command typically takes 20 s or more": ~15 s for the agent to pick it up, ~5 s to report.
  actionRunCommand: { dispatchMs: 15_000, reportMs: 5_000 },
  managedRunCommand: { dispatchMs: 15_000, reportMs: 5_000 },
  deleteRunCommandMs: 5_000,
  // Network resource updates usually complete in 5-15 s.
  nicUpdateMs: 10_000,
  poolUpdateMs: 10_000,
  // Power off without guest shutdown ~30 s; deallocate releases the host and takes longer.
  powerOffMs: 30_000,
  deallocateMs: 60_000,
  startMs: 30_000,
  // Network resource providers answer with Retry-After: 10; Compute usually sends none.
  retryAfterSeconds: { compute: undefined, network: 10 },
};

export type LatencyOption = 'zero' | 'realistic' | (Partial<Omit<LatencyProfile, 'retryAfterSeconds'>> & { retryAfterSeconds?: Partial<LatencyProfile['retryAfterSeconds']> });

/** A custom profile starts from zero and overrides what it names. */
export function resolveLatency(option: LatencyOption = 'zero'): LatencyProfile {
  if (option === 'zero') return ZERO_LATENCY;
  if (option === 'realistic') return REALISTIC_LATENCY;
  return { ...ZERO_LATENCY, ...option, retryAfterSeconds: { ...ZERO_LATENCY.retryAfterSeconds, ...option.retryAfterSeconds } };
}

/** One line per assumption, for the demo to print. */
export function describeLatency(profile: LatencyProfile): string[] {
  const s = (ms: number) => `${(ms / 1000).toFixed(ms % 1000 ? 1 : 0)} s`;
  return [
    `action Run Command: +${s(profile.actionRunCommand.dispatchMs)} before and +${s(profile.actionRunCommand.reportMs)} after the script`,
    `managed Run Command: +${s(profile.managedRunCommand.dispatchMs)} before and +${s(profile.managedRunCommand.reportMs)} after the script; delete ${s(profile.deleteRunCommandMs)}`,
    `NIC update (NIC-based pools): ${s(profile.nicUpdateMs)}; backend pool update (IP-based pools): ${s(profile.poolUpdateMs)}`,
    `power off: ${s(profile.powerOffMs)}; deallocate: ${s(profile.deallocateMs)}; start: ${s(profile.startMs)}`,
    `Retry-After: compute ${profile.retryAfterSeconds.compute ?? 'none'}, network ${profile.retryAfterSeconds.network ?? 'none'}`,
  ];
}

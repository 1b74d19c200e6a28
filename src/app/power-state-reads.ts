/**
 * The health check's reads of VM power states (through ARM), bounded so that they never lengthen a
 * check: the timer starts no check while one still runs, so a check that took longer than the
 * schedule's interval would skip the next one, and with it a renewal of the write lease (with a
 * 5 s schedule, renewals 10 s apart instead of 5 s while ARM hangs and a node is down).
 *
 * A look probes the nodes for up to probeTimeoutMs; the power states of the nodes that did not
 * answer are read beside it when the last look of this cluster found them unreachable too (a node
 * down stays down for many looks), else after it. Every read ends by probeTimeoutMs from the
 * look's start, and reads 'unknown' past it (ARM slow or down, or a node that has just gone
 * silent: its probe took all that time) and is left to end on its own. The memory of the last
 * look is this process's: a new instance reads after its first look.
 */
import type { PowerState } from '../ports/fencing';

const UNKNOWN: PowerState = 'unknown';

const unreachableAtLastLook = new Map<string, readonly string[]>();

export interface PowerStateLook {
  /** The power states of `unreachable`, each 'unknown' when its read failed or ended past the bound. */
  of(unreachable: readonly string[]): Promise<Record<string, PowerState>>;
}

/** Starts the reads a look of `cluster` begun now will want; `read` asks ARM for one node's power state. */
export function beginPowerStateLook(cluster: string, probeTimeoutMs: number, read: (node: string) => Promise<PowerState>): PowerStateLook {
  const endsAt = Date.now() + probeTimeoutMs;
  const begun = new Map((unreachableAtLastLook.get(cluster) ?? []).map((node) => [node, settle(() => read(node))] as const));
  return {
    async of(unreachable) {
      unreachableAtLastLook.set(cluster, [...unreachable]);
      const states = await Promise.all(unreachable.map(async (node) => [node, await within(endsAt - Date.now(), begun.get(node) ?? settle(() => read(node)))] as const));
      return Object.fromEntries(states);
    },
  };
}

function settle(read: () => Promise<PowerState>): Promise<PowerState> {
  return Promise.resolve()
    .then(read)
    .catch(() => UNKNOWN);
}

async function within(ms: number, read: Promise<PowerState>): Promise<PowerState> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<PowerState>((resolve) => {
    timer = setTimeout(() => resolve(UNKNOWN), Math.max(0, ms));
  });
  try {
    return await Promise.race([read, late]);
  } finally {
    clearTimeout(timer);
  }
}

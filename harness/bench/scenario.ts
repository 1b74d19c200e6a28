/**
 * What the benchmark runs. A scenario is one tool doing one kind of operation in one variant
 * (promotion path, latency profile, detection settings); it runs N times on an environment that
 * scenarios can share (our local stack, the Patroni cluster). Adding a scenario means adding one
 * more `Scenario` to the plan in plan.ts; measuring, statistics, ratios, tables and JSON follow
 * from the kind, tool and variant (ours is compared with the peer's scenario of the same kind and
 * the same `variant.detection`).
 */

export type Tool = 'ours' | 'patroni';
export type OperationKind = 'switchover' | 'failover';

/** One step of an operation and how long it took (ours: the orchestration's timeline; Patroni: what we can observe from outside). */
export interface StepTiming {
  /** Node names replaced by their roles (<old>, <new>, <other>) so runs with different targets line up. */
  name: string;
  durationMs: number | null;
  result: string;
}

export interface RunResult {
  run: number;
  from: string | null;
  to: string | null;
  /** completed, or why not (an operation outcome, or "error"). */
  outcome: string;
  reason?: string;
  /** Client-observed write outage: the longest gap between two acknowledged commits (docs/outage.md). */
  writeOutageMs: number | null;
  /** Where that gap lay, in ms after the operation was started (negative: before). */
  outageWindow: { fromMs: number; toMs: number } | null;
  acknowledgedCommits: number;
  /** Acknowledged commits missing on the primary afterwards, checked row by row. */
  lostCommits: number | null;
  lostCommitIds: number[];
  failedAttempts: number;
  /** Commits acknowledged by any other server after the final primary took its first one (docs/invariants.md S2; 0 expected). */
  commitsElsewhereAfterNewPrimary: number;
  /** From starting the operation until the cluster is converged again (every standby streaming from the new primary). */
  totalDurationMs: number | null;
  /** The first acknowledged commit on the final primary after the operation started (failover: after the kill), ms after the start. */
  firstCommitOnNewPrimaryMs: number | null;
  /** Failover only: from restarting the killed old primary until it streams from the new one (null: not restarted or not rejoined). */
  rejoinMs?: number | null;
  steps: StepTiming[];
  details: Record<string, unknown>;
}

export interface Environment {
  readonly name: string;
  /** Brings the environment up; throws EnvironmentUnavailable when it cannot exist here (e.g. Patroni not installable). */
  up(say: (line: string) => void): Promise<void>;
  down(): Promise<void>;
  /** Settings and assumptions to print beside its figures. */
  describe(): string[];
  /** The same, for the JSON results. */
  settings(): Record<string, unknown>;
}

export class EnvironmentUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvironmentUnavailable';
  }
}

export interface Scenario {
  readonly id: string;
  readonly tool: Tool;
  readonly kind: OperationKind;
  readonly label: string;
  readonly variant: Record<string, string>;
  /** Failover: the detection settings in force, printed beside the figures. */
  readonly detection?: string;
  readonly runs: number;
  readonly environment: Environment;
  runOnce(run: number, say: (line: string) => void): Promise<RunResult>;
}

/** A scenario that is planned for comparison but does not exist yet: reported as such, never as a number. */
export interface PendingScenario {
  readonly id: string;
  readonly tool: Tool;
  readonly kind: OperationKind;
  readonly label: string;
  readonly reason: string;
}

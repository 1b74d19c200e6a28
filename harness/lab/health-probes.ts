import { Agent, get } from 'node:http';

/*
 * Azure's HTTP health probe, as the lab plays it. What it follows, from
 * https://learn.microsoft.com/en-us/azure/load-balancer/load-balancer-custom-probe-overview
 * ("Probe protocol", "Probe down behavior", "Probe interval & timeout"):
 * - a probe passes only on HTTP 200; another status, a TCP reset (a refused connection) or no answer
 *   within the lesser of the interval and 30 s fails it;
 * - a backend is healthy once a probe has passed ("successful once after the VM boots");
 * - probeThreshold: "the number of consecutive successful or failed probes in order to allow or deny
 *   traffic ... taken out of rotation and require the same number of successful consecutive probes to
 *   be placed back" (https://learn.microsoft.com/en-us/javascript/api/@azure/arm-network/probepropertiesformat).
 * The docs do not say how many passes a backend newly added to a pool needs while probeThreshold > 1:
 * the lab takes the stricter reading, probeThreshold passes, the same as coming back. The same page
 * also says a failed probe marks a backend down "immediately" (older text: a non-200 does regardless
 * of the threshold); the lab follows probeThreshold for every kind of failure, as the API reference does.
 */

/** One rule's HTTP health probe, as configured on the load balancer. */
export interface HealthProbeSettings {
  port: number;
  path: string;
  /** Azure's minimum is 5 s; the lab allows less so tests need not wait. */
  intervalMs: number;
  probeThreshold: number;
  /** How long one probe may take; default and maximum: the interval (Azure: the lesser of the interval and 30 s). */
  timeoutMs?: number;
}

/** What the load balancer knows of one backend of one rule. */
export interface ProbeState {
  /** Whether the backend gets new connections of this rule. */
  up: boolean;
  /** How many of the latest probes in a row had the outcome of the last one. */
  consecutive: number;
  lastStatus?: number;
  lastError?: string;
  lastProbeAt?: string;
}

export interface ProbeTarget {
  name: string;
  host: string;
}

type ProbeResult = { status: number } | { error: string };

const AZURE_HTTP_PROBE_TIMEOUT_MS = 30_000;

/** A new connection for every probe, as Azure's probes are: a kept-alive socket would hide a listener that stopped accepting. */
const freshConnections = new Agent({ keepAlive: false });

export function resolveProbeSettings(value: unknown, rule: string): Required<HealthProbeSettings> {
  const s = (value ?? {}) as Partial<HealthProbeSettings>;
  const whole = (n: unknown, min: number) => typeof n === 'number' && Number.isInteger(n) && n >= min;
  const problems = [
    !whole(s.port, 1) || (s.port as number) > 65535 ? 'port must be 1-65535' : '',
    typeof s.path !== 'string' || !s.path.startsWith('/') ? 'path must start with /' : '',
    !whole(s.intervalMs, 1) ? 'intervalMs must be a positive whole number' : '',
    !whole(s.probeThreshold, 1) ? 'probeThreshold must be a positive whole number' : '',
    s.timeoutMs !== undefined && (!whole(s.timeoutMs, 1) || s.timeoutMs > (s.intervalMs as number)) ? 'timeoutMs must be positive and at most intervalMs' : '',
  ].filter(Boolean);
  if (problems.length) throw new Error(`${rule} probe: ${problems.join('; ')}`);
  const { port, path, intervalMs, probeThreshold } = s as HealthProbeSettings;
  return { port, path, intervalMs, probeThreshold, timeoutMs: s.timeoutMs ?? Math.min(intervalMs, AZURE_HTTP_PROBE_TIMEOUT_MS) };
}

function probeOnce(host: string, settings: Required<HealthProbeSettings>): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const request = get({ host, port: settings.port, path: settings.path, agent: freshConnections });
    const timer = setTimeout(() => settle({ error: `no answer within ${settings.timeoutMs} ms` }), settings.timeoutMs);
    let settled = false;
    // The status line decides; the connection is closed at once, whatever follows it.
    function settle(result: ProbeResult): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      resolve(result);
    }
    request.on('response', (response) => settle({ status: response.statusCode ?? 0 }));
    request.on('error', (error) => settle({ error: error.message }));
  });
}

/**
 * Probes every backend of one rule's pool on its own clock (connections through the load balancer
 * change nothing here) and keeps each one's up/down state.
 */
export class HealthProber {
  readonly settings: Required<HealthProbeSettings>;
  private readonly states = new Map<string, ProbeState>();
  private readonly inFlight = new Set<string>();
  private timer?: NodeJS.Timeout;
  /** Where in the interval (ms past a wall-clock multiple of it) the probes fire; unset: from start(). */
  private phaseMs?: number;

  constructor(
    settings: HealthProbeSettings,
    rule: string,
    private readonly targets: readonly ProbeTarget[],
    private readonly onChange: (backend: string, state: ProbeState) => void = () => undefined,
  ) {
    this.settings = resolveProbeSettings(settings, rule);
  }

  /** The rule's pool: a backend added starts down (no probe has passed yet); one removed forgets its history. */
  setPool(names: readonly string[]): void {
    for (const name of [...this.states.keys()]) if (!names.includes(name)) this.states.delete(name);
    for (const name of names) if (!this.states.has(name)) this.states.set(name, { up: false, consecutive: 0 });
  }

  start(): void {
    if (this.timer) return;
    this.phaseMs ??= Date.now() % this.settings.intervalMs;
    this.probeAll();
    this.scheduleNext();
  }

  /**
   * Moves the probes to `phase` (0 ≤ phase < 1) of the interval past each wall-clock multiple of
   * it, keeping every backend's state. Azure's probes keep a phase of their own, unrelated to the
   * app's timers; the bench samples it instead of keeping the one the lab happened to start with.
   */
  setPhase(phase: number): void {
    if (!(phase >= 0 && phase < 1)) throw new Error(`probe phase must be at least 0 and less than 1, not ${phase}`);
    this.phaseMs = Math.round(phase * this.settings.intervalMs);
    if (!this.timer) return;
    clearTimeout(this.timer);
    // At least half an interval after the move, so no backend is probed twice in quick succession.
    this.scheduleNext(this.settings.intervalMs / 2);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.states.clear();
  }

  /**
   * The next probe at the next moment of the phase at least `minGapMs` away: a chain of timeouts on
   * the wall clock does not drift as an interval timer does (a timer that fires a little early by
   * the wall clock must not probe its slot twice).
   */
  private scheduleNext(minGapMs = 0): void {
    const interval = this.settings.intervalMs;
    const now = Date.now();
    let next = now - (now % interval) + (this.phaseMs ?? 0);
    while (next <= now + minGapMs) next += interval;
    this.timer = setTimeout(() => {
      this.probeAll();
      this.scheduleNext(interval / 2);
    }, next - now);
    this.timer.unref();
  }

  isUp(name: string): boolean {
    return this.states.get(name)?.up ?? false;
  }

  snapshot(): Record<string, ProbeState> {
    return Object.fromEntries([...this.states].map(([name, state]) => [name, { ...state }]));
  }

  private probeAll(): void {
    for (const [name, state] of this.states) {
      // One probe at a time per backend, so results count in the order they were asked for.
      if (this.inFlight.has(name)) continue;
      const host = this.targets.find((t) => t.name === name)?.host;
      if (!host) continue;
      this.inFlight.add(name);
      void probeOnce(host, this.settings).then((result) => {
        this.inFlight.delete(name);
        // The backend left the pool (or came back as a newcomer) while this probe ran.
        if (this.states.get(name) === state) this.record(name, state, result);
      });
    }
  }

  private record(name: string, state: ProbeState, result: ProbeResult): void {
    const passed = 'status' in result && result.status === 200;
    const previousPassed = state.lastProbeAt !== undefined && state.lastStatus === 200;
    state.consecutive = state.lastProbeAt !== undefined && previousPassed === passed ? state.consecutive + 1 : 1;
    state.lastProbeAt = new Date().toISOString();
    if ('status' in result) {
      state.lastStatus = result.status;
      delete state.lastError;
    } else {
      state.lastError = result.error;
      delete state.lastStatus;
    }
    if (passed !== state.up && state.consecutive >= this.settings.probeThreshold) {
      state.up = passed;
      this.onChange(name, { ...state });
    }
  }
}

import { BenchOptions } from './options';
import { LoadSettings } from './measure';
import { OurStackEnvironment, OurSwitchoverScenario } from './ours';
import { PatroniEnvironment, PatroniFailoverScenario, PatroniSwitchoverScenario } from './patroni/scenarios';
import { PendingScenario, Scenario } from './scenario';

export interface BenchPlan {
  scenarios: Scenario[];
  pending: PendingScenario[];
  load: LoadSettings;
}

/**
 * The scenarios in the order they run: ours at zero latency, then the peer, then ours with the
 * realistic Azure latency (the slow ones last, so a quick look at the table comes early). Our
 * unplanned failover joins as one more `Scenario` here (an environment with the health-check
 * timer scheduled, a run that kills the primary's VM); until it exists it is listed as pending.
 */
export function planBench(options: BenchOptions): BenchPlan {
  const load: LoadSettings = { commitsAround: options.commits, recoveryTimeoutMs: 120_000 };
  const scenarios: Scenario[] = [];
  const pending: PendingScenario[] = [];
  const ourRuns = (profile: 'zero' | 'realistic') => (profile === 'zero' ? options.runs : options.realisticRuns);
  const ours = (profile: 'zero' | 'realistic') => {
    if (!options.ours || !options.profiles.includes(profile) || ourRuns(profile) === 0) return;
    for (const method of options.methods) {
      scenarios.push(new OurSwitchoverScenario(new OurStackEnvironment(profile, method, options.blocks.ours), ourRuns(profile), load));
    }
  };

  ours('zero');
  if (options.peer) {
    const patroni = new PatroniEnvironment(options.blocks.peer, options.install);
    scenarios.push(new PatroniSwitchoverScenario(patroni, options.runs, load));
    if (options.failoverRuns > 0) scenarios.push(new PatroniFailoverScenario(patroni, options.failoverRuns, load));
  }
  if (options.peer && options.failoverRuns > 0) {
    pending.push({ id: 'ours/failover', tool: 'ours', kind: 'failover', label: 'ours (unplanned failover)', reason: 'not built yet' });
  }
  ours('realistic');
  return { scenarios, pending, load };
}

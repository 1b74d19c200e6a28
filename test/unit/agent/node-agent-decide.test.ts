import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * The node agent's decision function (agent/node_agent/decide.py), called through a small Python
 * driver: each case is a sequence of looks at PostgreSQL (with the peers' answers when asked),
 * the state carried from one to the next as the agent's loop does.
 */
const AGENT_DIR = resolve(__dirname, '..', '..', '..', 'agent');

const DRIVER = `
import json, sys
from dataclasses import asdict
sys.path.insert(0, sys.argv[1])
from node_agent.decide import AgentState, Lease, Observation, PeerView, Settings, decide, peer_check_due

case = json.load(sys.stdin)
settings = Settings(**{**case['settings'], 'peers': tuple(case['settings']['peers'])})
state = AgentState(**case.get('state', {}))
results = []
for step in case['steps']:
    fields = dict(step['observation'])
    lease = fields.pop('lease', None)
    observation = Observation(lease=Lease(**lease) if lease else None, **fields)
    peers = step.get('peers')
    if peers is not None:
        peers = {name: PeerView(**view) if view else None for name, view in peers.items()}
    due = peer_check_due(observation, state, settings)
    decision = decide(observation, peers, state, settings)
    results.append({'peerCheckDue': due, 'primary': decision.primary, 'primaryValidFor': decision.primary_valid_for,
                    'replica': decision.replica, 'actions': list(decision.actions), 'events': list(decision.events),
                    'state': asdict(decision.state)})
    state = decision.state
json.dump(results, sys.stdout)
`;

interface Lease {
  holder: string;
  epoch: number;
  valid: boolean;
  seconds_left: number;
  since_start: boolean;
}
interface Observation {
  reachable: boolean;
  error?: string;
  in_recovery?: boolean | null;
  read_only?: boolean;
  fence_in_force?: boolean;
  drained?: boolean;
  lease?: Lease | null;
  wal_receiver_status?: string | null;
  sender_host?: string | null;
  replay_lag_bytes?: number | null;
  timeline?: number | null;
  other_client_sessions?: number;
}
interface PeerView {
  node: string;
  in_recovery: boolean | null;
  streaming: boolean;
  upstream_host: string | null;
  timeline: number | null;
}
interface Step {
  observation: Observation;
  /** The peers' answers when the loop asked them (null: silent); undefined: not asked. */
  peers?: Record<string, PeerView | null>;
}
interface State {
  fenced: boolean;
  failsafe: boolean;
  primary_reason: string;
  replica_reason: string;
}
interface Result {
  peerCheckDue: boolean;
  primary: boolean;
  primaryValidFor: number | null;
  replica: boolean;
  actions: string[];
  events: ({ event: string } & Record<string, unknown>)[];
  state: State;
}

/** The interpreter itself, found once: `python3` may be a slow version-manager shim. */
const PYTHON = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout?.trim() || 'python3';

const SETTINGS = { node: 'pg1', node_address: '10.0.0.4', peers: ['pg2', 'pg3'], max_lag_bytes: 1000, failsafe_horizon_seconds: 4 };

function run(steps: Step[], options: { settings?: Partial<typeof SETTINGS>; state?: Partial<State> } = {}): Result[] {
  const input = JSON.stringify({ settings: { ...SETTINGS, ...options.settings }, state: options.state ?? {}, steps });
  const python = spawnSync(PYTHON, ['-B', '-c', DRIVER, AGENT_DIR], { input, encoding: 'utf8' });
  if (python.status !== 0) throw new Error(`the Python driver failed (exit ${python.status}):\n${python.stderr}`);
  return JSON.parse(python.stdout) as Result[];
}

const lease = (holder: string, valid: boolean, secondsLeft = valid ? 30 : -5): Lease => ({ holder, epoch: 7, valid, seconds_left: secondsLeft, since_start: true });
/** The lease as a primary sees it after PostgreSQL was started again: written before that start. */
const fromBeforeStart = (theLease: Lease): Lease => ({ ...theLease, since_start: false });
const primary = (extra: Partial<Observation> = {}): Observation => ({ reachable: true, in_recovery: false, timeline: 2, ...extra });
const standby = (extra: Partial<Observation> = {}): Observation => ({
  reachable: true,
  in_recovery: true,
  wal_receiver_status: 'streaming',
  sender_host: '10.0.0.4',
  replay_lag_bytes: 0,
  timeline: 2,
  ...extra,
});
const streamingFromUs = (node: string): PeerView => ({ node, in_recovery: true, streaming: true, upstream_host: '10.0.0.4', timeline: 2 });
const bothConfirm = { pg2: streamingFromUs('pg2'), pg3: streamingFromUs('pg3') };
const eventNames = (result: Result) => result.events.map((e) => e.event);
/** After a fence: the marker in postgresql.auto.conf and read-only new sessions. */
const fencedPrimary = (extra: Partial<Observation> = {}) => primary({ fence_in_force: true, read_only: true, ...extra });

describe('node agent decisions: /primary and the lease', () => {
  it('a primary holding a valid lease answers 200, for as long as the lease has left, without asking its peers', () => {
    const [result] = run([{ observation: primary({ lease: lease('pg1', true, 30) }) }]);
    expect(result).toMatchObject({ peerCheckDue: false, primary: true, primaryValidFor: 30, replica: false, actions: [] });
    expect(result.events).toEqual([
      { event: 'primary-probe', healthy: true, reason: 'ok' },
      { event: 'replica-probe', healthy: false, reason: 'not in recovery' },
    ]);
  });

  it.each([
    ['another node', lease('pg2', true), 'lease held by pg2'],
    ['nobody (revoked: the app drains this primary)', lease('', true), 'lease revoked'],
    ['nobody, even lapsed', lease('', false), 'lease revoked'],
    ['another node, lapsed', lease('pg2', false), 'lease held by pg2'],
    ['no row or no table', null, 'no lease'],
  ])('a lease of %s: 503 at once, no failsafe, no fence', (_what, theLease, reason) => {
    const [result] = run([{ observation: primary({ lease: theLease }) }]);
    expect(result).toMatchObject({ peerCheckDue: false, primary: false, actions: [], state: { fenced: false, failsafe: false, primary_reason: reason } });
  });

  it('a lapsed lease of this node, every peer streaming from it: the failsafe keeps /primary 200, logged once', () => {
    const steps: Step[] = [
      { observation: primary({ lease: lease('pg1', true, 30) }) },
      { observation: primary({ lease: lease('pg1', false) }), peers: bothConfirm },
      { observation: primary({ lease: lease('pg1', false) }), peers: bothConfirm },
    ];
    const [valid, lapsed, again] = run(steps);
    expect(valid.peerCheckDue).toBe(false);
    expect(lapsed).toMatchObject({ peerCheckDue: true, primary: true, primaryValidFor: null, actions: [], state: { failsafe: true, fenced: false } });
    expect(eventNames(lapsed)).toEqual(['failsafe-entered']);
    expect(again).toMatchObject({ peerCheckDue: true, primary: true, actions: [], events: [] });
  });

  it('the failsafe ends when the app renews the lease', () => {
    const [, renewed] = run([
      { observation: primary({ lease: lease('pg1', false) }), peers: bothConfirm },
      { observation: primary({ lease: lease('pg1', true, 30) }) },
    ]);
    expect(renewed).toMatchObject({ primary: true, primaryValidFor: 30, state: { failsafe: false } });
    expect(renewed.events).toEqual([{ event: 'failsafe-left', reason: 'lease valid again' }]);
  });

  it.each([
    ['one peer silent', { pg2: streamingFromUs('pg2'), pg3: null }, { pg3: 'no answer' }],
    ['one peer not asked at all', { pg2: streamingFromUs('pg2') }, { pg3: 'no answer' }],
    ['one peer streaming from another node', { pg2: streamingFromUs('pg2'), pg3: { ...streamingFromUs('pg3'), upstream_host: '10.0.0.5' } }, { pg3: 'streams from 10.0.0.5' }],
    ['one peer not streaming', { pg2: streamingFromUs('pg2'), pg3: { ...streamingFromUs('pg3'), streaming: false } }, { pg3: 'not streaming' }],
    ['one peer promoted', { pg2: streamingFromUs('pg2'), pg3: { ...streamingFromUs('pg3'), in_recovery: false, upstream_host: null } }, { pg3: 'not in recovery' }],
    ['one peer whose PostgreSQL is down', { pg2: streamingFromUs('pg2'), pg3: { ...streamingFromUs('pg3'), in_recovery: null, streaming: false } }, { pg3: 'does not see its PostgreSQL' }],
    ['another agent answering at a peer\'s address', { pg2: streamingFromUs('pg2'), pg3: streamingFromUs('pg9') }, { pg3: 'answered as pg9' }],
  ])('a lapsed lease of this node, %s: it fences itself (logged once) and /primary 503', (_what, peers, problems) => {
    const [fence, next] = run([
      { observation: primary({ lease: lease('pg1', false), other_client_sessions: 3 }), peers },
      { observation: fencedPrimary({ lease: lease('pg1', false) }) },
    ]);
    expect(fence).toMatchObject({ peerCheckDue: true, primary: false, actions: ['fence'], state: { fenced: true, failsafe: false, primary_reason: 'fenced' } });
    expect(fence.events).toEqual([
      { event: 'fenced', reason: 'the lease lapsed and the peers do not all confirm this primary', epoch: 7, peers: problems },
      { event: 'primary-probe', healthy: false, reason: 'fenced' },
      { event: 'replica-probe', healthy: false, reason: 'not in recovery' },
    ]);
    // Fenced: the peers are no longer asked, nothing is redone, nothing logged again.
    expect(next).toMatchObject({ peerCheckDue: false, primary: false, actions: [], events: [] });
  });

  it.each([
    ['still valid', lease('pg1', true, 20)],
    ['lapsed', lease('pg1', false)],
  ])('the start rule: its own lease, %s, written before PostgreSQL started again: fenced, /primary 503, no failsafe asked for', (_what, theLease) => {
    const [fence, next] = run([
      { observation: primary({ lease: fromBeforeStart(theLease) }), peers: bothConfirm },
      { observation: fencedPrimary({ lease: fromBeforeStart(theLease) }) },
    ]);
    expect(fence).toMatchObject({ peerCheckDue: false, primary: false, actions: ['fence'], state: { fenced: true, failsafe: false, primary_reason: 'lease written before this start' } });
    expect(fence.events[0]).toEqual({ event: 'fenced', reason: 'PostgreSQL started after its lease was last written', epoch: 7 });
    expect(next).toMatchObject({ peerCheckDue: false, primary: false, actions: [], events: [] });
  });

  it('the start rule: once the app writes the lease again after the start, unfenced and 200', () => {
    const [, rewritten, open] = run([
      { observation: primary({ lease: fromBeforeStart(lease('pg1', true)) }) },
      { observation: fencedPrimary({ lease: lease('pg1', true) }) },
      { observation: primary({ lease: lease('pg1', true, 29) }) },
    ]);
    expect(rewritten).toMatchObject({ primary: false, actions: ['unfence'], state: { fenced: false } });
    expect(open).toMatchObject({ primary: true, primaryValidFor: 29, actions: [] });
  });

  it('without peers the failsafe never confirms: a lapsed lease fences at once', () => {
    const [result] = run([{ observation: primary({ lease: lease('pg1', false) }) }], { settings: { peers: [] } });
    expect(result).toMatchObject({ peerCheckDue: false, primary: false, actions: ['fence'] });
    expect(result.events[0]).toMatchObject({ event: 'fenced', peers: { peers: 'none configured' } });
  });

  it('a failsafe that stops confirming (a standby promoted elsewhere) fences', () => {
    const [, lost] = run([
      { observation: primary({ lease: lease('pg1', false) }), peers: bothConfirm },
      { observation: primary({ lease: lease('pg1', false) }), peers: { pg2: { ...streamingFromUs('pg2'), in_recovery: false, streaming: false }, pg3: streamingFromUs('pg3') } },
    ]);
    expect(lost).toMatchObject({ primary: false, actions: ['fence'], state: { fenced: true, failsafe: false } });
    expect(eventNames(lost)).toEqual(['fenced', 'failsafe-left', 'primary-probe']);
  });

  it('fenced, then the lease is valid for this node again: unfence first, /primary 200 only once a look shows it undone', () => {
    const [fence, unfence, stillReadOnly, open] = run([
      { observation: primary({ lease: lease('pg1', false) }), peers: { pg2: null, pg3: null } },
      { observation: fencedPrimary({ lease: lease('pg1', true) }) },
      // The reload has not reached new sessions yet: the marker is gone, new sessions are still read-only.
      { observation: primary({ read_only: true, lease: lease('pg1', true) }) },
      { observation: primary({ lease: lease('pg1', true) }) },
    ]);
    expect(fence.actions).toEqual(['fence']);
    expect(unfence).toMatchObject({ primary: false, actions: ['unfence'], state: { fenced: false } });
    expect(eventNames(unfence)).toEqual(['unfenced', 'primary-probe']);
    expect(stillReadOnly).toMatchObject({ primary: false, actions: [], state: { primary_reason: 'default_transaction_read_only is on' } });
    expect(open).toMatchObject({ primary: true, actions: [] });
  });

  it('a fenced primary stays fenced under a failsafe that would confirm, a revoked lease or another holder', () => {
    const results = run([
      { observation: primary({ lease: lease('pg1', false) }) },
      { observation: fencedPrimary({ lease: lease('pg1', false) }), peers: bothConfirm },
      { observation: fencedPrimary({ lease: lease('', true) }) },
      { observation: fencedPrimary({ lease: lease('pg2', true) }) },
    ]);
    expect(results.map((r) => [r.primary, r.state.fenced])).toEqual([
      [false, true],
      [false, true],
      [false, true],
      [false, true],
    ]);
  });

  it('a fenced primary ends application sessions that appear later, and re-applies a fence that did not take', () => {
    const [, sessions, undone] = run([
      { observation: primary({ lease: lease('pg1', false) }) },
      { observation: fencedPrimary({ lease: lease('pg1', false), other_client_sessions: 2 }) },
      { observation: primary({ lease: lease('pg1', false) }) },
    ]);
    expect(sessions.actions).toEqual(['end-sessions']);
    expect(undone).toMatchObject({ actions: ['fence'], events: [] });
  });

  it('a restarted agent finds its fence in postgresql.auto.conf and keeps it until the lease is valid', () => {
    const [found, renewed] = run([{ observation: fencedPrimary({ lease: lease('pg1', false) }) }, { observation: fencedPrimary({ lease: lease('pg1', true) }) }]);
    expect(found).toMatchObject({ primary: false, peerCheckDue: false, actions: [], state: { fenced: true } });
    expect(eventNames(found)[0]).toBe('fence-found');
    expect(renewed.actions).toEqual(['unfence']);
  });

  it('a lease about to lapse: the peers are asked ahead; confirmed, /primary holds past the expiry, else only until it', () => {
    const [confirmed] = run([{ observation: primary({ lease: lease('pg1', true, 1.5) }), peers: bothConfirm }]);
    expect(confirmed).toMatchObject({ peerCheckDue: true, primary: true, primaryValidFor: null, actions: [], state: { failsafe: false } });
    const [silent] = run([{ observation: primary({ lease: lease('pg1', true, 1.5) }), peers: { pg2: null, pg3: null } }]);
    expect(silent).toMatchObject({ peerCheckDue: true, primary: true, primaryValidFor: 1.5, actions: [], state: { fenced: false } });
  });

  it('a primary whose new sessions are read-only for another reason is not a writable primary', () => {
    const [result] = run([{ observation: primary({ read_only: true, lease: lease('pg1', true) }) }]);
    expect(result).toMatchObject({ primary: false, actions: [], state: { primary_reason: 'default_transaction_read_only is on', fenced: false } });
  });

  it('a standby never answers /primary 200, even with a valid lease naming it', () => {
    const [result] = run([{ observation: standby({ lease: lease('pg1', true) }) }]);
    expect(result).toMatchObject({ peerCheckDue: false, primary: false, replica: true, actions: [], state: { primary_reason: 'in recovery' } });
  });

  it('PostgreSQL unreachable: both probes 503, a fence is kept, nothing is run', () => {
    const [, down] = run([{ observation: primary({ lease: lease('pg1', false) }) }, { observation: { reachable: false, error: 'connection refused' } }]);
    expect(down).toMatchObject({ primary: false, replica: false, actions: [], state: { fenced: true } });
    expect(down.events).toEqual([
      { event: 'primary-probe', healthy: false, reason: 'postgres unreachable', error: 'connection refused' },
      { event: 'replica-probe', healthy: false, reason: 'postgres unreachable', error: 'connection refused' },
    ]);
  });

  it('the same answers twice: nothing logged the second time', () => {
    const [, second] = run([{ observation: primary({ lease: lease('pg1', true) }) }, { observation: primary({ lease: lease('pg1', true, 29) }) }]);
    expect(second.events).toEqual([]);
  });
});

describe('node agent decisions: /replica', () => {
  it.each([
    ['streaming within the lag bound', standby({ replay_lag_bytes: 1000 }), true, 'ok'],
    ['streaming beyond the lag bound', standby({ replay_lag_bytes: 1001 }), false, 'replay lag above PGFO_MAX_LAG_BYTES'],
    ['lag unknown', standby({ replay_lag_bytes: null }), false, 'replay lag above PGFO_MAX_LAG_BYTES'],
    ['its WAL receiver not streaming', standby({ wal_receiver_status: 'waiting' }), false, 'WAL receiver waiting'],
    ['no WAL receiver', standby({ wal_receiver_status: null, sender_host: null }), false, 'WAL receiver not running'],
    ['a primary', primary(), false, 'not in recovery'],
    ['down', { reachable: false }, false, 'postgres unreachable'],
    ['drained by the app, though streaming within the bound', standby({ replay_lag_bytes: 0, drained: true }), false, 'drained by the app (out of the read pool)'],
  ])('%s', (_what, observation, healthy, reason) => {
    const [result] = run([{ observation }]);
    expect(result).toMatchObject({ replica: healthy, state: { replica_reason: reason } });
  });
});

describe('node agent configuration', () => {
  const agent = (settings: string) => {
    const file = join(mkdtempSync(join(tmpdir(), 'pgfo-node-agent-')), 'node-agent.env');
    writeFileSync(file, settings);
    return spawnSync(PYTHON, ['-B', join(AGENT_DIR, 'node-agent.py'), '--config', file], { encoding: 'utf8', timeout: 10_000 });
  };

  it.each([
    ['PGFO_NODE_ADDRESS=10.0.0.4\n', /PGFO_NODE is missing in .*: set it to this node's name/],
    ['PGFO_NODE=pg1\n', /PGFO_NODE_ADDRESS is missing/],
    ['PGFO_NODE=pg1\nPGFO_NODE_ADDRESS=10.0.0.4\nPGFO_CHECK_SECONDS=0\n', /PGFO_CHECK_SECONDS="0" in .*: must be a number of seconds above 0/],
    ['PGFO_NODE=pg1\nPGFO_NODE_ADDRESS=10.0.0.4\nPGFO_PEERS=pg2=10.0.0.5\n', /PGFO_PEERS="pg2=10.0.0.5" in .*: must be a comma list .*name=host:port/],
    ['PGFO_NODE=pg1\nPGFO_NODE_ADDRESS=10.0.0.4\nPGFO_PEERS=pg1=10.0.0.4:8432\n', /PGFO_PEERS=.*must be a comma list of the other nodes' agents/],
    ['PGFO_NODE=pg1\nPGFO_NODE_ADDRESS=10.0.0.4\nPGFO_PROBE_LISTEN=8432\n', /PGFO_PROBE_LISTEN="8432" .*address:port/],
    ['PGFO_NODE=pg1\nPGFO_NODE_ADDRESS=10.0.0.4\nPGFO_MAX_LAG_BYTES=16MB\n', /PGFO_MAX_LAG_BYTES="16MB" .*whole number of bytes/],
    ['PGFO_NODE=pg1\nPGFO_NODE_ADDRESS=10.0.0.4\nPGFO_PSQL=/nonexistent/psql\n', /PGFO_PSQL=.*install postgresql-client/],
  ])('refuses %j with exit 2 and one line naming the setting', (settings, message) => {
    const run = agent(settings);
    expect(run.status).toBe(2);
    expect(run.stderr.trim().split('\n')).toEqual([expect.stringMatching(message)]);
  });
});

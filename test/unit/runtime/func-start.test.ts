import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyLocalSettings, funcStart, readHostJson } from '../../../harness/local/runtime';
import { HTTP_APP, LogCollector, tempStateDir, WAIT } from './harness';

test('host.json and local.settings.json are read the way func start reads them', () => {
  const root = tempStateDir();
  try {
    writeFileSync(join(root.dir, 'host.json'), JSON.stringify({ extensions: { http: { routePrefix: 'v1' }, durableTask: { hubName: '%HUB%' } } }));
    writeFileSync(join(root.dir, 'local.settings.json'), JSON.stringify({ Values: { HUB: 'fromsettings', KEEP: 'settings' } }));
    const env: NodeJS.ProcessEnv = { KEEP: 'environment' };
    expect(applyLocalSettings(root.dir, env)).toEqual(['HUB']);
    expect(env).toEqual({ HUB: 'fromsettings', KEEP: 'environment' });
    expect(readHostJson(root.dir, env)).toEqual({ routePrefix: 'v1', hubName: 'fromsettings', functionTimeout: undefined });
    expect(readHostJson(join(root.dir, 'missing'), env)).toEqual({ routePrefix: 'api', hubName: undefined, functionTimeout: undefined });
  } finally {
    root.remove();
  }
});

test('funcStart serves the app under the host.json route prefix with the hub name in its links', async () => {
  const root = tempStateDir();
  const stateDir = join(root.dir, 'state');
  mkdirSync(stateDir);
  writeFileSync(join(root.dir, 'host.json'), JSON.stringify({ extensions: { http: { routePrefix: 'v1' }, durableTask: { hubName: 'localhub' } } }));
  const logs = new LogCollector();
  const { runtime, origin } = await funcStart({ appRoot: root.dir, appModule: HTTP_APP, stateDir, port: 0, functionKey: 'k', log: logs.sink });
  try {
    const response = await fetch(`${origin}/v1/clusters/fs/switchover?code=k`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(202);
    expect(((await response.json()) as { statusQueryGetUri: string }).statusQueryGetUri).toContain('taskHub=localhub');
    await runtime.waitForInstance('switchover-fs', WAIT);
    expect(logs.entries.some((e) => e.event === 'timer.scheduled' && e.function === 'HealthCheck')).toBe(true);
  } finally {
    await runtime.stop();
    root.remove();
  }
});

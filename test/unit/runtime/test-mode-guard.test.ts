import { app } from '@azure/functions';
import { LocalRuntime } from '../../../harness/local/runtime';
import { tempStateDir } from './harness';

test('refuses to start when @azure/functions already fell back to "test mode"', async () => {
  // Registering before the runtime exists is what an eager import of the app would do: the
  // library finds no worker, switches to test mode for good and drops registrations.
  const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  app.http('RegisteredTooEarly', { handler: () => ({ body: 'x' }) });
  const state = tempStateDir();
  try {
    await expect(LocalRuntime.start({ stateDir: state.dir })).rejects.toThrow('"test mode"');
  } finally {
    warn.mockRestore();
    state.remove();
  }
});

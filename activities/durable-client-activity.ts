import * as df from 'durable-functions';
import type { InvocationContext } from '@azure/functions';
import type { ActivityName, InputOf, OutputOf } from './catalogue';

/**
 * Registers a catalogued activity that needs the Durable client (to start an operation through the
 * cluster's ownership check, or to read another instance's state): an orchestration cannot do either
 * itself. The durableClient input binding is the one the Functions host fills for any function.
 */
export function registerClientActivity<K extends ActivityName>(name: K, implementation: (input: InputOf<K>, client: df.DurableClient) => Promise<OutputOf<K>>): void {
  df.app.activity(name, {
    extraInputs: [df.input.durableClient()],
    handler: (input: unknown, context: InvocationContext) => implementation(input as InputOf<K>, df.getClient(context)),
  });
}

import { registerClientActivity } from './durable-client-activity';
import { operationStatus } from '../src/app/operations';

/** Lets an operation that finds the cluster owned check whether that owner still runs. */
registerClientActivity('readOperationStatus', ({ operationId }, client) => operationStatus(client, operationId));

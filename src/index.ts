/**
 * The Functions app entry point (package.json "main"): importing this module registers every
 * function — HTTP triggers, orchestrations and activities — with @azure/functions and
 * durable-functions, in Azure and under the local runtime alike.
 */
import '../activities';
import '../orchestrations/cluster-operation';
import '../orchestrations/switchover';
import './functions/switchover-http';
import './functions/cluster-http';

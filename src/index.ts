/**
 * The Functions app entry point (package.json "main"): importing this module registers every
 * function — HTTP triggers, orchestrations and activities — with @azure/functions and
 * durable-functions, in Azure and under the local runtime alike.
 */
import '../activities';
import '../orchestrations/cluster-ownership';
import '../orchestrations/switchover';
import './functions/switchover-http';
import './functions/cluster-http';
import './functions/scheduled-events-http';
import './functions/shutdown-http';
import './functions/step-enrollment-http';
import './functions/event-grid-vm-power';
import '../orchestrations/failover';
import '../orchestrations/cluster-monitor';
import '../orchestrations/cluster-monitor-rejoin';
import './functions/failover-http';
import './functions/maintenance-http';
import './functions/health-check';
import './functions/health-check-http';

// Registers every activity (one per file).
import './inspect-cluster';
import './drain-primary';
import './resume-application-logins';
import './read-wal-positions';
import './stop-postgres';
import './start-postgres';
import './promote-standby';
import './set-pool-role';
import './follow-primary';
import './rejoin-as-standby';
import './fence-vm';
import './inspect-vm';
import './start-failover';
import './start-rejoin';
import './read-health-state';
import './ensure-postgres-stopped';
import './set-read-pool-if-standby';

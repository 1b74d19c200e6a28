// Registers every activity (one per file).
import './inspect-cluster';
import './drain-primary';
import './resume-application-logins';
import './read-received-lsn';
import './set-pool-role';

import { registerActivity } from './catalogue';
import { inspectCluster } from '../src/app/inspection';

registerActivity('inspectCluster', ({ cluster, leaveOut, briefly }) => inspectCluster(cluster, leaveOut, briefly));

/**
 * How long a look waits for a node it asks only briefly: one that was silent at the look just
 * before and is asked again only to see whether it came back — in probe mode, the automatic
 * failover's first look at the primary the deciding health check could not reach, and its look
 * after that primary's lease.
 * A node that is up answers a connect across the VNet in milliseconds; one still silent would
 * otherwise hold the look, on the write path, for the whole probe timeout. Whether a primary is
 * dead is judged by the health check, at the full probe timeout; these asks only confirm it.
 */
export const BRIEF_ASK_MS = 1000;

/** The bound of a brief ask under a look whose own bound is `probeTimeoutMs` (never longer than that). */
export const briefAskMs = (probeTimeoutMs: number): number => Math.min(BRIEF_ASK_MS, probeTimeoutMs);

/**
 * How long a look waits for a node it asks only briefly: one that was silent at the operation's
 * look before and is asked again only to see whether it came back (the failover's look after the
 * old primary's lease). A node that is up answers a connect across the VNet in milliseconds; one
 * still silent would otherwise hold the look for the whole probe timeout.
 */
export const BRIEF_ASK_MS = 1000;

/** The bound of a brief ask under a look whose own bound is `probeTimeoutMs` (never longer than that). */
export const briefAskMs = (probeTimeoutMs: number): number => Math.min(BRIEF_ASK_MS, probeTimeoutMs);

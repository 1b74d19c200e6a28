/**
 * host.json `functionTimeout`: every function execution, activities included, is bounded by it
 * (docs: "host.json reference — functionTimeout"; Flex Consumption defaults to 30 minutes and
 * always has a bound). An attempt that runs past it fails with the host's FunctionTimeoutException;
 * the JavaScript worker cannot stop the code, so whatever the attempt started goes on (a Run
 * Command keeps running on its VM) while Durable Functions treats the attempt as failed and may
 * retry it.
 */
export const FLEX_CONSUMPTION_DEFAULT_TIMEOUT = '00:30:00';

export interface FunctionTimeout {
  /** The TimeSpan text as configured, as the host prints it in its error. */
  text: string;
  ms: number;
}

/** Parses a .NET TimeSpan as host.json writes it: `hh:mm:ss` or `d.hh:mm:ss` (fractions allowed). */
export function parseFunctionTimeout(text: string): FunctionTimeout {
  const match = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(text.trim());
  if (!match) throw new Error(`host.json functionTimeout "${text}" is not a TimeSpan like 00:10:00`);
  const [, days = '0', hours, minutes, seconds] = match;
  const ms = Math.round(((Number(days) * 24 + Number(hours)) * 3600 + Number(minutes) * 60 + Number(seconds)) * 1000);
  if (ms <= 0) throw new Error(`host.json functionTimeout "${text}" must be positive (Flex Consumption always has a bound)`);
  return { text: text.trim(), ms };
}

/** The host's FunctionTimeoutException message. */
export function functionTimeoutMessage(timeout: FunctionTimeout, functionName: string): string {
  return `Timeout value of ${timeout.text} was exceeded by function: Functions.${functionName}`;
}

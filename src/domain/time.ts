/** Date arithmetic for orchestrators, which may only derive times from context.df.currentUtcDateTime. */
export const addMilliseconds = (date: Date, ms: number): Date => new Date(date.getTime() + ms);

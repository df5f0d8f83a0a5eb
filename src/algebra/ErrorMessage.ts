/** The message of anything thrown: an Error's message, else its string form (never throws itself). */
export const errorMessage = (e: unknown): string => {
  if (e instanceof Error) return e.message;
  try {
    return String(e);
  } catch {
    return Object.prototype.toString.call(e);
  }
};

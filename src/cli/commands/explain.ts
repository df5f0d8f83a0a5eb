export const help = "fleet explain: not written yet";
export const run = async (_argv: ReadonlyArray<string>): Promise<number> => 1;

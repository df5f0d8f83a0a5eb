export const help = "fleet validate: not written yet";
export const run = async (_argv: ReadonlyArray<string>): Promise<number> => 1;

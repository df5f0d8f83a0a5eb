/**
 * Asking for confirmation on a terminal, like `terraform apply`: only the
 * exact answer `yes` approves; end of input or anything else declines.
 */
import { createInterface } from "node:readline/promises";

export const confirm = async (question: string): Promise<boolean> => {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const closed = new Promise<string>((resolve) => rl.once("close", () => resolve("")));
  try {
    process.stderr.write(`${question}\n  Only 'yes' will be accepted to approve.\n\n`);
    const answer = await Promise.race([rl.question("  Enter a value: "), closed]);
    return answer.trim() === "yes";
  } finally {
    rl.close();
  }
};

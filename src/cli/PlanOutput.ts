/**
 * A plan on the terminal (`fleet plan`, and the first part of `fleet
 * apply`): JSON lines on stdout, or text with the unreadable records and the
 * World's warnings on stderr and the plan on stdout.
 */
import type { Planned } from "../program/Plan.ts";
import { formatWorldWarning } from "../program/Warnings.ts";
import { reportProblems } from "./Inputs.ts";
import * as J from "./JsonLines.ts";
import { planLines, type GroupBy } from "./PlanText.ts";
import type { Terminal } from "./Terminal.ts";

export const renderPlan = async (t: Terminal, p: Planned, o: { readonly json: boolean; readonly groupBy: GroupBy; readonly header: J.PlanHeader }): Promise<void> => {
  if (o.json) {
    t.out(J.planHeader(o.header));
    await t.outLines(J.planLines(p.plan, p.problems, p.warnings));
    return;
  }
  reportProblems(p.problems, t, false);
  for (const w of p.warnings) t.err(`${t.e.yellow("Warning:")} ${formatWorldWarning(w)}`);
  await t.outLines(planLines(p.plan, o.groupBy, t.o));
};

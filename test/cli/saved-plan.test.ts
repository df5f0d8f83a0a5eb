/**
 * Saved plans are applied only if their actions are exactly what the World
 * they carry and the Reality they are bound to give: consistent edits (a spec
 * changed with its hash recomputed, an action dropped, an action added for
 * another device) are refused, with the fleet files present or not; an
 * unedited plan still applies. And `--out` never leaves a temporary file.
 */
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployment, DeploymentCodec, podman, specHash } from "../../src/algebra/Deployment.ts";
import { fleetFile, workspace, type Workspace } from "./support.ts";

const NT = "--no-typecheck";

type Json = Record<string, unknown> & { actions: Array<Record<string, unknown>>; files: string[] };

describe("saved plans bound to their World and Reality", () => {
  let ws: Workspace;
  const read = async (name: string): Promise<Json> => JSON.parse(await readFile(join(ws.dir, name), "utf8")) as Json;
  const write = (name: string, json: Json): Promise<void> => writeFile(join(ws.dir, name), JSON.stringify(json));
  const fresh = async (name: string): Promise<Json> => {
    const r = await ws.fleet(["plan", NT, "--out", name, "v2.ts"]);
    expect(r.code).toBe(0);
    return read(name);
  };

  beforeAll(async () => {
    ws = await workspace();
    await ws.write("fleet.ts", fleetFile());
    await ws.write("v2.ts", fleetFile({ webImage: "httpd:2.6" }));
    expect((await ws.fleet(["apply", NT, "--auto-approve", "fleet.ts"])).code).toBe(0);
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  const refusesEdit = async (name: string, edit: (j: Json) => void, files: "present" | "absent"): Promise<void> => {
    const j = await fresh(name);
    edit(j);
    if (files === "absent") j.files = ["gone.ts"];
    await write(name, j);
    const before = await readFile(join(ws.dir, ".fleet", "state.records"), "utf8");
    const r = await ws.fleet(["apply", name]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`Error: saved plan ${name.replace(".", "\\.")} was edited: its actions are not what its World and Reality give \\(`));
    expect(await readFile(join(ws.dir, ".fleet", "state.records"), "utf8")).toBe(before);
  };

  const evil = deployment("web", podman({ services: [{ name: "httpd", image: "evil:1", ports: [{ container: 80, host: 8080 }] }] }));
  const changeSpec = (j: Json): void => {
    const a = j.actions[0] as Record<string, unknown>;
    a["spec"] = DeploymentCodec.encode(evil);
    a["specHash"] = specHash(evil);
  };
  const dropOne = (j: Json): void => void j.actions.splice(1, 1);
  const addOne = (j: Json): void => {
    const copy = { ...(j.actions.at(-1) as Record<string, unknown>), device: "zz-99" };
    j.actions.push(copy);
  };

  for (const files of ["present", "absent"] as const) {
    it(`refuses a spec changed with its hash recomputed (fleet files ${files})`, () => refusesEdit(`spec-${files}.json`, changeSpec, files));
    it(`refuses a plan with an action dropped (fleet files ${files})`, () => refusesEdit(`drop-${files}.json`, dropOne, files));
    it(`refuses a plan with an action added for another device (fleet files ${files})`, () => refusesEdit(`add-${files}.json`, addOne, files));
  }

  it("refuses a plan whose carried World was edited without its hash", async () => {
    const j = await fresh("world.json");
    (j["worldValue"] as { assignments: unknown[] }).assignments.pop();
    j.files = ["gone.ts"];
    await write("world.json", j);
    const r = await ws.fleet(["apply", "world.json"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("Error: saved plan world.json was edited: the World it carries does not hash to its world hash; run fleet plan again\n");
  });

  it("applies an unedited plan whose fleet files are gone, checked against the World it carries", async () => {
    const j = await fresh("ok.json");
    j.files = ["gone.ts"];
    await write("ok.json", j);
    const r = await ws.fleet(["apply", "ok.json"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("Note: the fleet files of the saved plan are not here; applying it as checked against the World it carries\n");
    expect(r.stdout).toContain("Apply complete! 0 created, 3 updated, 0 deleted, 0 failed.");
  });

  it("refuses a plan saved by format version 1 (no World carried)", async () => {
    const j = await fresh("v1.json");
    j["version"] = 1;
    await write("v1.json", j);
    const r = await ws.fleet(["apply", "v1.json"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("Error: v1.json: not a usable saved plan: saved by an older fleet (plan format version 1 does not carry its World); run fleet plan again\n");
  });

  it("--out naming a directory fails in one line and leaves no temporary file", async () => {
    await mkdir(join(ws.dir, "plans"));
    const r = await ws.fleet(["plan", NT, "--out", "plans", "v2.ts"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("Error: plans: cannot save the plan (EISDIR)\n");
    expect((await readdir(ws.dir)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    expect(existsSync(join(ws.dir, "plans"))).toBe(true);
  });
});

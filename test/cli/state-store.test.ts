/**
 * The local backend's version-2 store: the line codec's round-trip law, and
 * the hardening cases, each against a real state directory:
 * - two lines for one device: a problem, the device damaged, both lines kept;
 * - a spec file that does not hash to its name: a problem, never trusted, and
 *   the next write stores the right content again;
 * - a version-1 `state.json`: read as it is, migrated by the next write;
 * - a full disk (ENOSPC injected into the writer): every action failed, the
 *   state unchanged, no temporary file left;
 * - a read-only state directory: one line saying the directory is not writable.
 */
import { diff } from "../../src/diff/Diff.ts";
import { world } from "../../src/world/World.ts";
import { assign } from "../../src/world/Assignment.ts";
import { spawn } from "node:child_process";
import { chmod, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { device } from "../../src/algebra/Device.ts";
import { deployment, podman, specHash, type Deployment } from "../../src/algebra/Deployment.ts";
import { unsafeDeploymentName, unsafeDeviceId } from "../../src/algebra/Name.ts";
import { reality, type Reality } from "../../src/diff/Reality.ts";
import type { Plan } from "../../src/diff/Plan.ts";
import { local } from "../../src/interpreters/local/index.ts";
import { emptyState } from "../../src/interpreters/local/StateFile.ts";
import { decodeState, encodeState } from "../../src/interpreters/local/StateRecords.ts";
import { fingerprintSuffix, revisionFingerprint } from "../../src/interpreters/local/PackedEntries.ts";
import { deploymentArb, realityArb } from "../laws/arbitraries.ts";
import { REPO, fleetFile, workspace, type Workspace } from "./support.ts";

const NT = "--no-typecheck";
const web = deployment("web", podman({ services: [{ name: "httpd", image: "httpd:2.4" }] }));
const create = (id: string, spec: Deployment): Pick<Plan, "actions"> => ({
  actions: [
    {
      _tag: "Create",
      device: unsafeDeviceId(id),
      deployment: unsafeDeploymentName(spec.name),
      spec,
      specHash: specHash(spec),
      reason: { assignment: "a", selector: "@all", priority: 0 },
      presence: "online",
    },
  ],
});

const LINEAGE = "5eed1e55-0000-4000-8000-000000000000";
const SUFFIX = fingerprintSuffix(LINEAGE);
const fingerprintArb = fc.oneof(
  { weight: 4, arbitrary: fc.oneof(fc.nat(), fc.maxSafeNat()).map((n) => revisionFingerprint(SUFFIX, n)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(`r01.${SUFFIX}`, `r.${SUFFIX}`, `r7.${SUFFIX}x`, `r7.${SUFFIX.slice(0, 7)}`, `r1234567890123456.${SUFFIX}`, `R7.${SUFFIX}`, `r7.${SUFFIX}.`, `r7${SUFFIX}`, "r7.ffffffff", "rev-3", "r7"),
  },
);

describe("state records (pure)", () => {
  it("law: decoding an encoded state gives its Reality back, specs resolved by hash", () => {
    fc.assert(
      fc.property(realityArb({ damaged: true }), fc.array(deploymentArb, { maxLength: 3 }), fc.array(fingerprintArb, { minLength: 1, maxLength: 8 }), (r, specs, prints) => {
        // Give some entries their spec, as applies do.
        const bySpec = new Map(specs.map((d) => [specHash(d), d]));
        // Fingerprints of the local backend's form (kept as numbers when a whole line has them) and near misses.
        let k = 0;
        const print = (): string => prints[k++ % prints.length] as string;
        const withSpecs: Reality = {
          ...r,
          desired: new Map(
            [...r.desired].map(([id, m], i) => {
              const spec = specs[i % Math.max(1, specs.length)];
              // Some devices' entries were written by a staged rollout: they carry the prior spec (or none).
              const prior = i % 3 === 1 ? { prior: null } : i % 3 === 2 ? { prior: "sha256:prior" } : {};
              return [id, new Map([...m].map(([n, e]) => [n, spec === undefined ? { ...e, fingerprint: print(), ...prior } : { ...e, fingerprint: print(), specHash: specHash(spec), spec, ...prior }]))];
            }),
          ),
        };
        const s = { ...emptyState(), lineage: LINEAGE, serial: 2, revision: 7, reality: withSpecs, recordedDamage: new Map(r.damaged) };
        const d = decodeState(encodeState(s), "t", (h) => bySpec.get(h));
        if (d._tag !== "Ok") throw new Error(d.reason);
        expect(d.problems).toEqual([]);
        expect(d.state.reality).toEqual(withSpecs);
        // Entries are made from the line when asked for (PackedEntries): every way of asking agrees.
        for (const [id, m] of d.state.reality.desired) {
          const want = withSpecs.desired.get(id);
          expect(m.size).toBe(want?.size);
          expect([...m.keys()].sort()).toEqual([...(want?.keys() ?? [])].sort());
          for (const [name, e] of want ?? []) {
            expect(m.has(name)).toBe(true);
            expect(m.get(name)).toEqual(e);
          }
          const seen = new Map<string, unknown>();
          m.forEach((e, k) => seen.set(k, e));
          expect(seen).toEqual(new Map(want ?? []));
        }
        expect(encodeState(d.state)).toBe(encodeState(s));
      }),
    );
  });

  it("two lines for one device: a problem naming it, the device damaged, both lines written back", () => {
    const r = reality({ devices: [{ device: device("pi-01", { labels: { env: "prod" } }) }, { device: device("pi-02") }] });
    const text = encodeState({ ...emptyState(), reality: r });
    const lines = text.split("\n");
    const second = (lines[1] as string).replace('"prod"', '"dev"');
    const doubled = [lines[0], lines[1], second, ...lines.slice(2)].join("\n").replace('"devices":2}', '"devices":3}');
    const d = decodeState(doubled, "state.records");
    if (d._tag !== "Ok") throw new Error(d.reason);
    expect(d.problems).toEqual([{ source: "state.records", key: "pi-01", message: "a second record for device pi-01 (line 3); both are kept as they are" }]);
    expect(d.state.reality.damaged.get(unsafeDeviceId("pi-01"))).toContain("a second record");
    expect(d.state.reality.devices.get(unsafeDeviceId("pi-01"))?.device.labels).toEqual({ env: "prod" });
    const again = encodeState(d.state).split("\n");
    expect(again).toContain(lines[1]);
    expect(again).toContain(second);
  });

  it("a hand-edited line is written back as fleet writes it: its pattern's spelling and fingerprints that are not plain tokens normalised", () => {
    const header = JSON.stringify({ format: "fleet-local-state", version: 2, lineage: "5eed1e55-0000-4000-8000-000000000000", serial: 1, revision: 2, specs: [specHash(web)] });
    const edited = (desired: string, prints: string): string => [header, `pi-01\t\t\t${desired}\t${prints}\t\t`, '{"end":"fleet-local-state","devices":1}', ""].join("\n");
    const written = (text: string): string => {
      const d = decodeState(text);
      if (d._tag !== "Ok") throw new Error(d.reason);
      expect(d.problems).toEqual([]);
      return (encodeState(d.state).split("\n")[1] as string).split("\t").slice(3, 5).join("\t");
    };
    expect(written(edited("db:00,web:0", "a b"))).toBe("db:0,web:0\ta b");
    expect(written(edited("db:0,web:0", 'tok"en r1.5eed1e55'))).toBe('db:0,web:0\t["tok\\"en","r1.5eed1e55"]');
    expect(written(edited("web:0,db:0", "a b"))).toBe("db:0,web:0\tb a");
    expect(written(edited("db:0,web:0", "r1.5eed1e55 r2.5eed1e55"))).toBe("db:0,web:0\tr1.5eed1e55 r2.5eed1e55");
  });

  it("fingerprints that are not plain tokens round-trip as JSON", () => {
    const e = (fingerprint: string, name: string) => ({ device: unsafeDeviceId("pi-01"), deployment: unsafeDeploymentName(name), specHash: specHash(web), fingerprint });
    const r = reality({ desired: [e("a b", "web"), e('["x"]', "db")] });
    const text = encodeState({ ...emptyState(), reality: r });
    expect(text).toContain('db:0,web:0\t["[\\"x\\"]","a b"]\t');
    const d = decodeState(text);
    if (d._tag !== "Ok") throw new Error(d.reason);
    expect(d.state.reality).toEqual(r);
  });

  it("a file cut short between lines is corrupt, not a smaller fleet", () => {
    const text = encodeState({ ...emptyState(), reality: reality({ devices: [{ device: device("pi-01") }] }) });
    const d = decodeState(text.slice(0, text.lastIndexOf('{"end"')));
    expect(d).toEqual({ _tag: "Corrupt", reason: "the file ends after 1 device lines without its end line (truncated)" });
  });
});

describe("state store (files)", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await workspace();
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  it("a spec file that does not hash to its name is reported and not trusted; the next write repairs it", async () => {
    const dir = join(ws.dir, "tampered");
    const b = await local({ stateDir: dir });
    expect((await b.apply(create("pi-01", web)))._tag).toBe("Completed");
    const file = join(dir, "specs", `${specHash(web).replace(":", "-")}.json`);
    const good = await readFile(file, "utf8");
    await writeFile(file, good.replace("httpd:2.4", "evil:1"));
    const fresh = await local({ stateDir: dir });
    const r = await fresh.read();
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]?.source).toBe(file);
    expect(r.problems[0]?.message).toMatch(/^the spec file's content hashes to sha256:[0-9a-f]{64}, not to its name; not trusted$/);
    const entry = r.reality.desired.get(unsafeDeviceId("pi-01"))?.get(unsafeDeploymentName("web"));
    expect(entry?.specHash).toBe(specHash(web));
    expect(entry?.spec).toBeUndefined();
    expect(entry?.tampered).toMatch(/spec file does not hash to its hash/);
    // The plan republishes the entry (a repair), and applying it stores the spec again.
    const w = world({ fleet: [device("pi-01")], assignments: [assign("@all", web)] });
    const repair = diff(w, r.reality, { now: new Date() });
    expect(repair.actions.map((a) => (a._tag === "Update" ? `repair ${a.device}.${a.deployment}` : a._tag))).toEqual(["repair pi-01.web"]);
    expect((await fresh.apply(repair))._tag).toBe("Completed");
    expect(await readFile(file, "utf8")).toBe(good);
    await writeFile(file, good.replace("httpd:2.4", "evil:1"));
    // Also the next write that carries the spec for another entry stores it again.
    const other = deployment("metrics", podman({ services: [{ name: "e", image: "e:1" }] }));
    expect((await (await local({ stateDir: dir })).apply({ actions: [...create("pi-02", web).actions, ...create("pi-02", other).actions] }))._tag).toBe("Completed");
    expect(await readFile(file, "utf8")).toBe(good);
    expect((await (await local({ stateDir: dir })).read()).problems).toEqual([]);
  });

  it("a version-1 state.json is read as it is and migrated by the next write", async () => {
    const dir = join(ws.dir, "v1");
    await mkdir(dir, { recursive: true });
    const v1 = {
      format: "fleet-local-state",
      version: 1,
      lineage: "0b9a3c52-6f0e-4c1e-9d43-3d2f7f1c8a11",
      serial: 4,
      revision: 2,
      reality: {
        devices: [{ device: { id: "pi-01", labels: { env: "prod" }, arch: "aarch64" }, lastHeartbeat: "2026-11-30T10:00:00.000Z" }],
        desired: [
          { device: "pi-01", deployment: "web", specHash: specHash(web), fingerprint: "r2.0b9a3c52", spec: web },
          { device: "pi-02", deployment: "web", specHash: 42, fingerprint: "r1.0b9a3c52" },
        ],
        observed: [],
        damaged: [],
      },
    };
    await writeFile(join(dir, "state.json"), JSON.stringify(v1, null, 2));
    const b = await local({ stateDir: dir });
    const before = await b.read();
    expect(before.problems.map((p) => p.key)).toEqual(["pi-02.web"]);
    expect(before.reality.desired.get(unsafeDeviceId("pi-01"))?.get(unsafeDeploymentName("web"))).toEqual({ device: "pi-01", deployment: "web", specHash: specHash(web), fingerprint: "r2.0b9a3c52", spec: web });
    expect(await b.info()).toEqual({ serial: 4, lineage: v1.lineage });
    // A write migrates: the new file is the state, the old one is kept aside.
    await b.register([device("pi-03")], new Date("2026-11-30T11:00:00Z"));
    expect((await readdir(dir)).sort()).toEqual(["specs", "state.json.migrated", "state.records"]);
    const after = await (await local({ stateDir: dir })).read();
    expect(after.reality.desired).toEqual(before.reality.desired);
    expect([...after.reality.devices.keys()]).toEqual(["pi-01", "pi-03"]);
    // The unreadable version-1 record stays unreadable (pi-02 damaged), and is kept.
    expect(after.problems.map((p) => p.key)).toEqual(["pi-02"]);
    expect(after.reality.damaged.has(unsafeDeviceId("pi-02"))).toBe(true);
    expect(await readFile(join(dir, "state.records"), "utf8")).toContain('"specHash":42');
    expect(await b.info()).toEqual({ serial: 5, lineage: v1.lineage });
  });

  it("text that is not ASCII reads back whole wherever the file's chunks split it", async () => {
    const dir = join(ws.dir, "utf8");
    const b = await local({ stateDir: dir });
    // About 3 MiB of three-byte characters: the file is read in 64 KiB chunks, and some boundaries fall inside a
    // character; one device's line (1.2 MB) is longer than many read chunks and than the writer's 1 MiB buffer.
    const devices = Array.from({ length: 5000 }, (_, i) =>
      device(`d-${String(i).padStart(5, "0")}`, { inventory: { note: i === 2500 ? "日".repeat(400_000) : `${"日".repeat(100 + (i % 11))} é 🚀` } }),
    );
    await b.register(devices, new Date("2026-11-30T11:00:00Z"));
    const bytes = await readFile(join(dir, "state.records"));
    const inside = (at: number): boolean => at < bytes.length && ((bytes[at] as number) & 0xc0) === 0x80;
    const boundaries = Array.from({ length: Math.floor(bytes.length / (1 << 16)) }, (_, k) => (k + 1) << 16);
    expect(boundaries.filter(inside).length).toBeGreaterThan(1);
    const longest = Math.max(...bytes.toString("utf8").split("\n").map((l) => Buffer.byteLength(l)));
    expect(longest).toBeGreaterThan(1 << 20);
    const back = await (await local({ stateDir: dir })).read();
    expect(back.problems).toEqual([]);
    expect([...back.reality.devices.values()].map((r) => r.device)).toEqual(devices);
  });

  it("apply reuses the state it read only while the file is unchanged: another writer's apply makes the plan stale", async () => {
    const dir = join(ws.dir, "reuse");
    const a = await local({ stateDir: dir });
    const b = await local({ stateDir: dir });
    expect((await a.apply(create("pi-00", web)))._tag).toBe("Completed");
    await a.read();
    expect((await b.apply(create("pi-01", web)))._tag).toBe("Completed");
    const r = await a.apply(create("pi-01", web));
    expect(r._tag).toBe("Stale");
  });

  it("a full disk fails every action, keeps the state and leaves no temporary file", async () => {
    const dir = join(ws.dir, "full");
    const ok = await local({ stateDir: dir });
    expect((await ok.apply(create("pi-01", web)))._tag).toBe("Completed");
    const before = await readFile(join(dir, "state.records"), "utf8");
    const full = await local({
      stateDir: dir,
      writeHooks: {
        beforeChunk: () => {
          throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
        },
      },
    });
    const r = await full.apply(create("pi-02", web));
    if (r._tag !== "Completed") throw new Error(r._tag);
    expect(r.outcomes.map((o) => o._tag)).toEqual(["Failed"]);
    expect(r.outcomes[0]?._tag === "Failed" && r.outcomes[0].error).toMatch(/^writing .*full: ENOSPC: no space left on device, write$/);
    expect(await readFile(join(dir, "state.records"), "utf8")).toBe(before);
    expect((await readdir(dir)).sort()).toEqual(["specs", "state.records"]);
    expect((await readdir(join(dir, "specs"))).every((f) => !f.endsWith(".tmp"))).toBe(true);
  });

  it("a read-only state directory: one line saying so, nothing left behind", async () => {
    await ws.write("fleet.ts", fleetFile());
    const dir = join(ws.dir, "ro");
    await mkdir(dir);
    await chmod(dir, 0o555);
    // root ignores modes: run the CLI as nobody then (the workspace must be readable to it).
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      // The test run's temporary directory is root's (mode 700): let nobody pass through it.
      await chmod(dirname(ws.dir), 0o711);
      await chmod(ws.dir, 0o755);
    }
    // Its temporary files (tsx's) go to a directory it may write: the test run's own is root's.
    const tmp = join(ws.dir, "tmp-nobody");
    await mkdir(tmp);
    await chmod(tmp, 0o777);
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(REPO, "bin", "fleet.js"), "apply", NT, "--auto-approve", "--state-dir", dir, "fleet.ts"], {
        cwd: ws.dir,
        stdio: ["ignore", "ignore", "pipe"],
        env: { ...process.env, FLEET_CACHE_DIR: join(ws.dir, ".cache-ro"), NO_COLOR: "1", HOME: ws.dir, TMPDIR: tmp },
        ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
      });
      let stderr = "";
      child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      child.on("close", (code) => resolve({ code, stderr }));
    });
    expect(r.stderr).toBe(`Error: the state directory ${dir} is not writable (EACCES); nothing was changed\n`);
    expect(r.code).toBe(1);
    expect(await readdir(dir)).toEqual([]);
    expect(existsSync(join(dir, "state.records"))).toBe(false);
  });
});

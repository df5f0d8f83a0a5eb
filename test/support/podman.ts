/**
 * A real, private podman for one test file: `startPodman()` starts
 * `podman system service --time=0` on a temp unix socket, with its own
 * storage, run state, network config (own bridge and subnet) and volumes in a
 * temp dir, and `CONTAINERS_CONF` pointing at test/support/podman/containers.conf.
 * It imports the test image (a root filesystem holding Debian's static
 * busybox: `httpd` serves pages, `sh -c` makes containers that exit) since
 * no registry is reachable.
 *
 * `stop()` removes every container, pod, volume and image of that private
 * storage, stops the service by PID and deletes the temp dir; it is safe to
 * call after a failed test and more than once. Nothing outside the temp dir
 * is touched (the machine's own podman storage is never opened).
 *
 * Needs root and scripts/ci/20-podman.sh; a missing prerequisite is one
 * clear error, not a skip.
 */
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, rmSync } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readFile, symlink, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { atExit, registerDir, removeTempDir, spawnLive, type LiveProcess } from "./processes.ts";

export { freePort } from "./processes.ts";

export const CONTAINERS_CONF = fileURLToPath(new URL("./podman/containers.conf", import.meta.url));
export const TEST_IMAGE = "localhost/fleet-test/busybox:1";
/** The page the test image serves from /www. */
export const TEST_PAGE = "fleet-algebra podman test page\n";

const BUSYBOX = "/bin/busybox";
/** The test image's default command: serve /www on port 80. */
export const DEFAULT_COMMAND = "trap 'exit 0' TERM; httpd -f -p 80 -h /www & wait";
const APPLETS = ["sh", "httpd", "sleep", "echo", "cat", "ls", "kill", "true", "false", "env", "wget", "nc"];

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ContainerFacts {
  readonly id: string;
  readonly name: string;
  readonly state: string;
  readonly startedAt: string;
  readonly restartCount: number;
  readonly labels: Readonly<Record<string, string>>;
}

export interface PodmanHarness {
  readonly dir: string;
  /** `unix:///…/podman.sock` of this file's private podman service. */
  readonly socket: string;
  readonly image: string;
  /** Environment for processes that run podman against this storage. */
  readonly env: NodeJS.ProcessEnv;
  /** Global flags that select this storage (for `podman` CLI calls). */
  readonly globalArgs: ReadonlyArray<string>;
  /** Runs the podman CLI against this storage. */
  podman(args: ReadonlyArray<string>): Promise<CommandResult>;
  /** Facts about one container by name or id, from `podman inspect`; undefined when it does not exist. */
  inspect(nameOrId: string): Promise<ContainerFacts | undefined>;
  /** Names of all containers in this storage, sorted. */
  containerNames(): Promise<ReadonlyArray<string>>;
  /** Removes every container, pod and volume (images stay). */
  sweep(): Promise<void>;
  stop(): Promise<void>;
}

const run = (file: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<CommandResult> =>
  new Promise((resolve) => {
    execFile(file, [...args], { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof (error as { code?: unknown }).code === "number" ? ((error as { code: number }).code) : 1;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });

/** Polls `check` until it returns a value, or throws after `timeoutMs` with the last reason. */
export const eventually = async <A>(check: () => Promise<A | undefined>, timeoutMs = 20_000, what = "condition"): Promise<A> => {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last !== undefined ? `: ${String(last)}` : ""}`);
    await sleep(200);
  }
};

/** GETs a page over loopback; undefined when nothing answers (yet). */
export const fetchPage = async (url: string): Promise<string | undefined> => {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Claims a /24 (10.89.<octet>.0/24) no other live harness on this machine uses, by an
 * exclusive lock file holding our PID; a file whose PID is gone is taken over. The locks
 * are machine-wide (every test run of every checkout shares the bridges' address space),
 * so they live in /run/lock, not in the run's own temp dir.
 */
const SUBNET_LOCKS = process.env["FLEET_PODMAN_SUBNET_LOCKS"] ?? "/run/lock/fleet-podman-subnets";
const claimSubnet = async (): Promise<{ readonly octet: number; readonly release: () => void }> => {
  await mkdir(SUBNET_LOCKS, { recursive: true });
  const start = randomBytes(1)[0] as number;
  for (let i = 0; i < 224; i++) {
    const octet = 16 + ((start + i) % 224);
    const file = path.join(SUBNET_LOCKS, String(octet));
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await writeFile(file, String(process.pid), { flag: "wx" });
        return { octet, release: () => rmSync(file, { force: true }) };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        const holder = Number(await readFile(file, "utf8").catch(() => "0"));
        if (holder > 0 && holder !== process.pid && isAlive(holder)) break;
        if (holder === process.pid) break;
        rmSync(file, { force: true }); // left by a process that is gone
      }
    }
  }
  throw new Error(`no free test subnet: every 10.89.x.0/24 lock in ${SUBNET_LOCKS} is held`);
};

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
};

const requirePrerequisites = (): void => {
  const missing = ["/usr/bin/podman", BUSYBOX, "/usr/sbin/runc"].filter((p) => !existsSync(p));
  if (missing.length > 0) throw new Error(`podman tests need ${missing.join(", ")}: run scripts/ci/20-podman.sh as root`);
  if (process.getuid?.() !== 0) throw new Error("podman tests need root (rootful podman with runc)");
};

/** A network file for the default network name, so this storage gets its own bridge and subnet. */
const networkConfig = (bridge: string, octet: number): string =>
  JSON.stringify(
    {
      name: "podman",
      id: randomBytes(32).toString("hex"),
      driver: "bridge",
      network_interface: bridge,
      created: new Date().toISOString(),
      subnets: [{ subnet: `10.89.${octet}.0/24`, gateway: `10.89.${octet}.1` }],
      ipv6_enabled: false,
      internal: false,
      dns_enabled: false,
      ipam_options: { driver: "host-local" },
    },
    null,
    2,
  );

const buildImageTar = async (dir: string): Promise<string> => {
  const rootfs = path.join(dir, "rootfs");
  await mkdir(path.join(rootfs, "bin"), { recursive: true });
  await mkdir(path.join(rootfs, "www"), { recursive: true });
  await mkdir(path.join(rootfs, "tmp"), { recursive: true });
  await copyFile(BUSYBOX, path.join(rootfs, "bin", "busybox"));
  await chmod(path.join(rootfs, "bin", "busybox"), 0o755);
  for (const a of APPLETS) await symlink("busybox", path.join(rootfs, "bin", a));
  await writeFile(path.join(rootfs, "www", "index.html"), TEST_PAGE);
  const tar = path.join(dir, "rootfs.tar");
  const r = await run("tar", ["-C", rootfs, "-cf", tar, "."], process.env);
  if (r.code !== 0) throw new Error(`tar failed: ${r.stderr.trim()}`);
  return tar;
};

export const startPodman = async (): Promise<PodmanHarness> => {
  requirePrerequisites();
  // Short base path: conmon's sockets live under the run root and unix socket paths are limited to 108 bytes.
  const dir = await mkdtemp(path.join(os.tmpdir(), "fpm-"));
  registerDir(dir);
  const tag = randomBytes(3).toString("hex");
  const dirs = { root: "root", runroot: "run", tmpdir: "tmp", net: "net", volumes: "volumes" } as const;
  for (const d of Object.values(dirs)) await mkdir(path.join(dir, d), { recursive: true });
  // A bridge and subnet of our own, so parallel test files never share IP allocations or routes.
  const subnet = await claimSubnet();
  await writeFile(path.join(dir, dirs.net, "podman.json"), networkConfig(`fpm${tag}`, subnet.octet));
  const globalArgs = [
    "--root", path.join(dir, dirs.root),
    "--runroot", path.join(dir, dirs.runroot),
    "--tmpdir", path.join(dir, dirs.tmpdir),
    "--network-config-dir", path.join(dir, dirs.net),
    "--volumepath", path.join(dir, dirs.volumes),
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, CONTAINERS_CONF };
  delete env["CONTAINER_HOST"];
  const socketPath = path.join(dir, "podman.sock");
  const socket = `unix://${socketPath}`;
  const podman = (args: ReadonlyArray<string>): Promise<CommandResult> => run("podman", [...globalArgs, ...args], env);

  let service: LiveProcess | undefined;
  let stopped = false;

  const sweep = async (): Promise<void> => {
    await podman(["pod", "rm", "--all", "--force", "--time", "0"]);
    await podman(["rm", "--all", "--force", "--time", "0", "--volumes"]);
    await podman(["volume", "rm", "--all", "--force"]);
  };

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    unregister();
    await sweep();
    await podman(["rmi", "--all", "--force"]);
    await service?.terminate();
    // Unmounts whatever storage is left mounted, then deletes it.
    await podman(["system", "reset", "--force"]);
    await removeTempDir(dir);
    subnet.release();
  };

  const unregister = atExit(() => {
    // Last resort at process exit (no await possible): remove what this storage runs, then the storage.
    const quiet = { env, stdio: "ignore", timeout: 30_000 } as const;
    for (const args of [["rm", "--all", "--force", "--time", "0"], ["system", "reset", "--force"]]) {
      try {
        execFileSync("podman", [...globalArgs, ...args], quiet);
      } catch {
        // best effort
      }
    }
    if (service !== undefined && service.status() === undefined) service.child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    subnet.release();
  });

  try {
    const tar = await buildImageTar(dir);
    // httpd under a shell that exits on SIGTERM: busybox httpd as PID 1 would ignore it and every stop would wait out its timeout.
    const imported = await podman(["import", "--change", `CMD ${JSON.stringify(["sh", "-c", DEFAULT_COMMAND])}`, tar, TEST_IMAGE]);
    if (imported.code !== 0) throw new Error(`podman import failed: ${imported.stderr.trim()}`);

    const log: string[] = [];
    const svc = spawnLive("podman system service", "podman", [...globalArgs, "system", "service", "--time=0", socket], { env, stdio: ["ignore", "ignore", "pipe"] });
    service = svc;
    svc.child.stderr?.on("data", (c: Buffer) => log.push(c.toString("utf8")));
    await eventually(
      async () => {
        if (svc.status() !== undefined) throw new Error(`podman system service exited: ${log.join("").trim()}`);
        return existsSync(socketPath) ? true : undefined;
      },
      20_000,
      "the podman service socket",
    );
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    dir,
    socket,
    image: TEST_IMAGE,
    env,
    globalArgs,
    podman,
    inspect: async (nameOrId) => {
      const r = await podman(["container", "inspect", nameOrId]);
      if (r.code !== 0) return undefined;
      const [c] = JSON.parse(r.stdout) as Array<{
        Id: string;
        Name: string;
        State: { Status: string; StartedAt: string };
        RestartCount?: number;
        Config: { Labels: Record<string, string> | null };
      }>;
      if (c === undefined) return undefined;
      return {
        id: c.Id,
        name: c.Name,
        state: c.State.Status,
        startedAt: c.State.StartedAt,
        restartCount: c.RestartCount ?? 0,
        labels: c.Config.Labels ?? {},
      };
    },
    containerNames: async () => {
      const r = await podman(["ps", "--all", "--format", "{{.Names}}"]);
      return r.stdout
        .split("\n")
        .map((s) => s.trim())
        .filter((s) => s !== "")
        .sort();
    },
    sweep,
    stop,
  };
};

/**
 * Test harness: a genuine Kubernetes API server (kube-apiserver 1.20 built from
 * Debian bookworm's source package by scripts/ci/30-kube-apiserver.sh) backed by
 * Debian's etcd, started per test suite on free loopback ports, with its own
 * certificates, a static admin token, RBAC and a kubeconfig. No kubelet, no
 * controllers: objects are stored and served exactly as a real cluster would
 * (validation, CRDs, RBAC, resourceVersions, watch), nothing reconciles them.
 *
 *   const kube = await startKubeApiServer();
 *   try { await kube.kubectl(["get", "namespaces"]); } finally { await kube.stop(); }
 *
 * Only node built-ins; see docs/kubernetes-test-server.md.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, closeSync, constants, existsSync, openSync, readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request } from "node:https";
import { delimiter, join } from "node:path";
import { freePorts, removeTempDir, retryingTakenPorts, spawnLive, tempDir, type LiveProcess } from "./processes.ts";

/** Debian source version the binaries are built from. Keep in sync with scripts/ci/30-kube-apiserver.sh. */
export const KUBE_DEB_VERSION = "1.20.5+really1.20.2-1.1+deb12u1";
/** The project's patches on top (see scripts/ci/30-kube-apiserver.sh); part of the cache key. */
export const KUBE_PATCH_LEVEL = "fleet2";

export interface KubeApiServerOptions {
  /** Overall startup deadline (etcd + apiserver ready + default namespace), ms. Default 60 000. */
  readyTimeoutMs?: number;
  /** Extra kube-apiserver flags, appended last (so they win over the defaults). */
  extraApiServerArgs?: string[];
  /** Keep the temp dir (logs, etcd data, certs) after stop(), for debugging. Default false. */
  keepDataDir?: boolean;
}

export interface KubectlResult {
  stdout: string;
  stderr: string;
  /** Exit code; -1 when kubectl was killed by a signal (e.g. its timeout). */
  code: number;
}

export interface KubeApiServer {
  /** Kubeconfig with a single context "fleet-test" (admin token, namespace default); it is the current context. */
  kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** Bearer token of user "fleet-admin", group system:masters. */
  token: string;
  /** PEM file of the CA that signed the serving certificate. */
  caFile: string;
  /** Temp dir holding everything of this instance (etcd data, certs, logs, kubeconfig); removed by stop(). */
  dataDir: string;
  /** http://127.0.0.1:<port> of the private etcd. */
  etcdUrl: string;
  /** Log files (stdout + stderr) of both processes. */
  logs: { etcd: string; apiserver: string };
  pids: { etcd: number; apiserver: number };
  /** Runs the cache-built kubectl against this server. Never throws on a non-zero exit. */
  kubectl(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<KubectlResult>;
  /**
   * undefined while both processes run; otherwise which one exited, how, and the tail of
   * its log (e.g. a Go panic/SIGSEGV). Use it to turn "connection refused" into the cause.
   */
  crashed(): string | undefined;
  /** SIGTERM both processes (SIGKILL after a grace period), wait for them, remove dataDir. Idempotent. */
  stop(): Promise<void>;
}

export interface KubeBinaries {
  kubeApiServer: string;
  kubectl: string;
  etcd: string;
}

const SETUP_HINT = "run `bash scripts/ci/30-kube-apiserver.sh` as root (builds them from Debian source, ~8 min, once)";

/** Locates kube-apiserver, kubectl (the script's cache) and etcd (Debian's etcd-server); throws with a hint if missing. */
export function findKubeBinaries(): KubeBinaries {
  const dir =
    process.env["FLEET_KUBE_BIN_DIR"] ??
    join(process.env["FLEET_KUBE_CACHE"] ?? "/var/cache/fleet-algebra", `kubernetes-${KUBE_DEB_VERSION}-${KUBE_PATCH_LEVEL}`);
  const kubeApiServer = join(dir, "kube-apiserver");
  const kubectl = join(dir, "kubectl");
  for (const bin of [kubeApiServer, kubectl]) {
    if (!isExecutable(bin)) throw new Error(`kube test server: ${bin} is missing; ${SETUP_HINT}`);
  }
  const etcd = process.env["FLEET_ETCD_BIN"] ?? whichSync("etcd");
  if (!etcd) throw new Error(`kube test server: etcd is not installed (Debian package etcd-server); ${SETUP_HINT}`);
  return { kubeApiServer, kubectl, etcd };
}

/**
 * Starts etcd and kube-apiserver on free loopback ports. A port is picked free but may be taken by another
 * process before the server binds it; a start that lost that race (its log says "address already in use")
 * is tried again on new ports, up to three times.
 */
export async function startKubeApiServer(opts: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  return retryingTakenPorts(() => startOnce(opts));
}

async function startOnce(opts: KubeApiServerOptions): Promise<KubeApiServer> {
  const bins = findKubeBinaries();
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  const dataDir = await tempDir("kube");
  const certDir = join(dataDir, "pki");
  await mkdir(certDir);
  const logs = { etcd: join(dataDir, "etcd.log"), apiserver: join(dataDir, "kube-apiserver.log") };

  const procs: Managed[] = [];
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      // API server first: with etcd gone first it would spend its grace period retrying.
      for (const p of [...procs].reverse()) await p.process.terminate();
      if (!opts.keepDataDir) await removeTempDir(dataDir);
    })());

  try {
    // Reserve all ports at once so the three of them are distinct.
    const [etcdPort, peerPort, apiPort] = await freePorts(3);
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const server = `https://127.0.0.1:${apiPort}`;

    const etcd = launch("etcd", bins.etcd, [
      "--name=fleet-test",
      `--data-dir=${join(dataDir, "etcd")}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=fleet-test=${peerUrl}`,
      "--initial-cluster-state=new",
      `--initial-cluster-token=fleet-test-${apiPort}`,
      "--logger=zap",
    ], logs.etcd);
    procs.push(etcd);

    // Certificates and the token file while etcd boots.
    const pki = await makePki(certDir);
    const token = randomBytes(24).toString("hex");
    const tokenFile = join(certDir, "tokens.csv");
    // token,user,uid,"groups": system:masters bypasses RBAC (cluster-admin).
    await writeFile(tokenFile, `${token},fleet-admin,fleet-admin,"system:masters"\n`, { mode: 0o600 });

    await waitFor(deadline, [etcd], logs.etcd, "etcd /health", async () => {
      const r = await httpGet(`${etcdUrl}/health`);
      return r.status === 200 && r.body.includes('"health":"true"');
    });

    const apiserver = launch("kube-apiserver", bins.kubeApiServer, [
      `--etcd-servers=${etcdUrl}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiPort}`,
      `--cert-dir=${certDir}`,
      `--tls-cert-file=${pki.servingCert}`,
      `--tls-private-key-file=${pki.servingKey}`,
      `--client-ca-file=${pki.caCert}`,
      `--token-auth-file=${tokenFile}`,
      "--authorization-mode=RBAC",
      // Required since 1.20 (BoundServiceAccountTokenVolume): issuer, keys and audiences.
      "--service-account-issuer=https://kubernetes.default.svc",
      `--service-account-key-file=${pki.serviceAccountKey}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      "--api-audiences=https://kubernetes.default.svc",
      "--service-cluster-ip-range=10.96.0.0/24",
      // The "kubernetes" Endpoints would point at 127.0.0.1, which Endpoints validation
      // rejects (loopback); there is no node to reach anyway.
      "--endpoint-reconciler-type=none",
      "--profiling=false",
      ...(opts.extraApiServerArgs ?? []),
    ], logs.apiserver);
    procs.push(apiserver);

    const auth = { ca: pki.caPem, token };
    await waitFor(deadline, [etcd, apiserver], logs.apiserver, "kube-apiserver /readyz", async () => {
      const r = await httpGet(`${server}/readyz`, auth);
      return r.status === 200;
    });
    // /readyz can pass a moment before the bootstrap controller has created the
    // "default" namespace; namespaced writes there would be rejected until then.
    await waitFor(deadline, [etcd, apiserver], logs.apiserver, "namespace default", async () => {
      const r = await httpGet(`${server}/api/v1/namespaces/default`, auth);
      return r.status === 200;
    });

    const kubeconfigPath = join(dataDir, "kubeconfig");
    await writeFile(kubeconfigPath, kubeconfig(server, pki.caCert, token), { mode: 0o600 });
    const kubectlCache = join(dataDir, "kubectl-cache");

    return {
      kubeconfigPath,
      server,
      token,
      caFile: pki.caCert,
      dataDir,
      etcdUrl,
      logs,
      pids: { etcd: etcd.process.pid, apiserver: apiserver.process.pid },
      kubectl: (args, kopts = {}) =>
        run(bins.kubectl, [`--kubeconfig=${kubeconfigPath}`, `--cache-dir=${kubectlCache}`, ...args], {
          input: kopts.input,
          timeoutMs: kopts.timeoutMs ?? 60_000,
          // No KUBECONFIG or HOME from the developer's environment may leak in.
          env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: dataDir },
        }),
      crashed: () => {
        if (stopping) return undefined;
        const dead = procs.find((p) => p.process.status() !== undefined);
        return dead && `${dead.process.name} exited (${dead.process.status()})\n${tail(dead.log)}`;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

// ---------------------------------------------------------------------------------
// Processes

/** A process of this harness and the file its output goes to. */
interface Managed {
  readonly log: string;
  readonly process: LiveProcess;
}

function launch(name: string, bin: string, args: string[], logFile: string): Managed {
  const fd = openSync(logFile, "a");
  try {
    // Output goes straight to the log file (no pipe the test process must drain).
    return { log: logFile, process: spawnLive(name, bin, args, { stdio: ["ignore", fd, fd], env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin" } }) };
  } finally {
    closeSync(fd);
  }
}

/** Polls `ready` until it returns true; fails fast with the log tail if a process dies or the deadline passes. */
async function waitFor(
  deadline: number,
  procs: Managed[],
  logFile: string,
  what: string,
  ready: () => Promise<boolean>,
): Promise<void> {
  let lastError = "";
  for (;;) {
    const dead = procs.find((p) => p.process.status() !== undefined);
    if (dead) {
      throw new Error(`kube test server: ${dead.process.name} exited (${dead.process.status()}) while waiting for ${what}\n${tail(dead.log)}`);
    }
    try {
      if (await ready()) return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `kube test server: timed out waiting for ${what}${lastError ? ` (last error: ${lastError})` : ""}\n${tail(logFile)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * The end of a log, or for a Go crash (whose end is thousands of lines of goroutine
 * dumps) the crash header and the crashing goroutine's stack.
 */
function tail(file: string, lines = 40): string {
  try {
    const all = readFileSync(file, "utf8").trimEnd().split("\n");
    const crash = all.findIndex((l) => /^(panic: |fatal error: |unexpected fault address|\[signal SIG)/.test(l));
    if (crash >= 0) {
      const from = Math.max(0, crash - 2);
      return `--- Go crash in ${file} (line ${crash + 1})\n${all.slice(from, from + lines).join("\n")}`;
    }
    return `--- last ${Math.min(lines, all.length)} lines of ${file}\n${all.slice(-lines).join("\n")}`;
  } catch {
    return `(no log at ${file})`;
  }
}

function run(
  bin: string,
  args: string[],
  o: { input?: string | undefined; timeoutMs: number; env: NodeJS.ProcessEnv },
): Promise<KubectlResult> {
  return new Promise((resolve) => {
    const child = execFile(
      bin,
      args,
      { timeout: o.timeoutMs, maxBuffer: 64 * 1024 * 1024, env: o.env, encoding: "utf8" },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        resolve({ stdout, stderr: err && code === -1 ? `${stderr}${err.message}` : stderr, code });
      },
    );
    child.stdin?.end(o.input ?? "");
  });
}

// ---------------------------------------------------------------------------------
// HTTP, certificates, kubeconfig

async function httpGet(
  url: string,
  auth?: { ca: string; token: string },
): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  const mod = u.protocol === "https:" ? request : httpRequest;
  return new Promise((resolve, reject) => {
    const req = mod(
      u,
      {
        method: "GET",
        timeout: 2_000,
        ...(auth ? { ca: auth.ca, headers: { Authorization: `Bearer ${auth.token}` } } : {}),
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`timeout GET ${url}`)));
    req.on("error", reject);
    req.end();
  });
}

interface Pki {
  caCert: string;
  caPem: string;
  servingCert: string;
  servingKey: string;
  serviceAccountKey: string;
}

/** Throwaway CA, a serving certificate for 127.0.0.1/localhost and a service-account signing key (all P-256). */
async function makePki(dir: string): Promise<Pki> {
  const p = (f: string) => join(dir, f);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl(["req", "-x509", ...ec, "-keyout", p("ca.key"), "-out", p("ca.crt"), "-days", "7",
    "-subj", "/CN=fleet-test-ca",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  await openssl(["req", ...ec, "-keyout", p("apiserver.key"), "-out", p("apiserver.csr"), "-subj", "/CN=kube-apiserver"]);
  // Go >= 1.15 ignores the CN: the names must be SANs.
  await writeFile(p("apiserver.ext"), [
    "basicConstraints=CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=serverAuth",
    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc",
    "",
  ].join("\n"));
  await openssl(["x509", "-req", "-in", p("apiserver.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"),
    "-CAcreateserial", "-out", p("apiserver.crt"), "-days", "7", "-extfile", p("apiserver.ext")]);
  // One key file serves both --service-account-signing-key-file and (its public half) --service-account-key-file.
  // SEC1 ("EC PRIVATE KEY"): the 1.20 public-key reader does not accept PKCS#8.
  await openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", p("sa.key")]);
  return {
    caCert: p("ca.crt"),
    caPem: await readFile(p("ca.crt"), "utf8"),
    servingCert: p("apiserver.crt"),
    servingKey: p("apiserver.key"),
    serviceAccountKey: p("sa.key"),
  };
}

function openssl(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("openssl", args, { encoding: "utf8" }, (err, _stdout, stderr) =>
      err ? reject(new Error(`openssl ${args[0]} failed: ${stderr || err.message}`)) : resolve(),
    );
  });
}

function kubeconfig(server: string, caFile: string, token: string): string {
  // JSON is valid YAML; kubectl reads either.
  return `${JSON.stringify(
    {
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "fleet-test", cluster: { server, "certificate-authority": caFile } }],
      users: [{ name: "fleet-admin", user: { token } }],
      contexts: [{ name: "fleet-test", context: { cluster: "fleet-test", user: "fleet-admin", namespace: "default" } }],
      "current-context": "fleet-test",
      preferences: {},
    },
    null,
    2,
  )}\n`;
}

// ---------------------------------------------------------------------------------
// Small fs helpers

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function whichSync(name: string): string | undefined {
  for (const dir of (process.env["PATH"] ?? "/usr/bin:/bin").split(delimiter)) {
    const f = join(dir, name);
    if (dir && existsSync(f) && isExecutable(f)) return f;
  }
  return undefined;
}

/**
 * A small client for podman's libpod REST API over a unix socket (node:http
 * with `socketPath`; no Docker-compat layer, no CLI processes).
 *
 * Contract:
 * - a podman answer is a value: `{ ok: true, status, body }` for 2xx/304,
 *   `{ ok: false, status, message }` otherwise, with podman's own message;
 * - not reaching the service at all (no socket, refused, reset, timeout)
 *   throws one `BackendUnavailableError` whose message names the socket and
 *   how to start a service; never a stack trace for that expected failure.
 */
import * as http from "node:http";
import * as t from "io-ts";
import { isRight } from "fp-ts/lib/Either.js";
import { BackendUnavailableError } from "../Interpreter.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export type LibpodResponse =
  | { readonly ok: true; readonly status: number; readonly body: unknown }
  | { readonly ok: false; readonly status: number; readonly message: string };

export interface RequestOptions {
  readonly method?: "GET" | "POST" | "DELETE";
  readonly query?: Readonly<Record<string, string | number | boolean>>;
  readonly body?: unknown;
  /** Idle time after which the request is abandoned. Default 120 s. */
  readonly timeoutMs?: number;
}

export interface LibpodClient {
  /** `unix:///path/to/podman.sock`, for messages. */
  readonly url: string;
  request(path: string, options?: RequestOptions): Promise<LibpodResponse>;
  close(): void;
}

// The libpod API accepts any 4.x/5.x version in the prefix; 4.0.0 is the oldest it serves.
const PREFIX = "/v4.0.0/libpod";

// -------------------------------------------------------------------------------------
// socket addresses
// -------------------------------------------------------------------------------------

/** `unix:///run/x.sock`, `unix:/run/x.sock` or `/run/x.sock` to a path; undefined for other schemes. */
export const socketPathOf = (address: string): string | undefined => {
  if (address.startsWith("/")) return address;
  const m = /^unix:(?:\/\/)?(\/.*)$/.exec(address);
  return m?.[1];
};

/** The socket a podman client would use: `$CONTAINER_HOST` when it is unix://, else the rootful or rootless default. */
export const defaultSocket = (env: NodeJS.ProcessEnv = process.env, uid: number = process.getuid?.() ?? 0): string => {
  const host = env["CONTAINER_HOST"];
  if (host !== undefined && host !== "") return host;
  if (uid === 0) return "unix:///run/podman/podman.sock";
  const runtimeDir = env["XDG_RUNTIME_DIR"] ?? `/run/user/${uid}`;
  return `unix://${runtimeDir}/podman/podman.sock`;
};

// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

const ErrorBody = t.partial({ message: t.string, cause: t.string });

const errorMessage = (status: number, text: string): string => {
  try {
    const decoded = ErrorBody.decode(JSON.parse(text));
    if (isRight(decoded) && decoded.right.message !== undefined) return decoded.right.message;
  } catch {
    // not JSON: fall through to the raw text
  }
  const trimmed = text.trim();
  return trimmed === "" ? `HTTP ${status}` : trimmed.slice(0, 500);
};

export const unavailable = (url: string, why: string): BackendUnavailableError =>
  new BackendUnavailableError(
    `podman service not reachable at ${url} (${why}); start one with "podman system service --time=0 ${url}" or point CONTAINER_HOST at a running one`,
  );

// -------------------------------------------------------------------------------------
// constructor
// -------------------------------------------------------------------------------------

export const libpodClient = (address: string): LibpodClient => {
  const socketPath = socketPathOf(address);
  if (socketPath === undefined)
    throw new BackendUnavailableError(`podman socket ${JSON.stringify(address)}: only unix:// sockets are supported`);
  const url = `unix://${socketPath}`;
  // Keep-alive: a reconcile makes a handful of calls; one connection serves them all.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

  const request = (path: string, options: RequestOptions = {}): Promise<LibpodResponse> =>
    new Promise((resolve, reject) => {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(options.query ?? {})) qs.set(k, String(v));
      const q = qs.toString();
      const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
      const req = http.request(
        {
          socketPath,
          agent,
          method: options.method ?? "GET",
          path: `${PREFIX}${path}${q === "" ? "" : `?${q}`}`,
          headers: {
            host: "d",
            ...(payload !== undefined ? { "content-type": "application/json", "content-length": payload.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", (e) => reject(unavailable(url, e.message)));
          res.on("end", () => {
            const status = res.statusCode ?? 0;
            const text = Buffer.concat(chunks).toString("utf8");
            if ((status >= 200 && status < 300) || status === 304) {
              let body: unknown = text;
              if (text !== "" && (res.headers["content-type"] ?? "").includes("json")) {
                try {
                  body = JSON.parse(text);
                } catch {
                  // a stream of JSON documents (pull): callers parse the text
                }
              }
              resolve({ ok: true, status, body });
            } else resolve({ ok: false, status, message: errorMessage(status, text) });
          });
        },
      );
      req.setTimeout(options.timeoutMs ?? 120_000, () => req.destroy(new Error(`no answer within ${options.timeoutMs ?? 120_000} ms`)));
      req.on("error", (e: NodeJS.ErrnoException) => reject(unavailable(url, e.code !== undefined ? `${e.code}` : e.message)));
      if (payload !== undefined) req.write(payload);
      req.end();
    });

  return { url, request, close: () => agent.destroy() };
};

/**
 * The dashboard's HTTP server (`node:http`, read-only): the page's assets,
 * the JSON API (`Api.ts`) and `/api/events`, a server-sent event stream that
 * says "version N is out" so that pages refetch without a reload.
 *
 * Security: only GET and HEAD; bound to loopback unless told otherwise.
 * When a token is set every request must carry it (`?token=`, a
 * `Authorization: Bearer` header, or the HttpOnly cookie the page receives
 * when opened with `?token=`), compared in constant time. On loopback the
 * Host header must name loopback too, so a web page elsewhere cannot reach
 * the dashboard through DNS rebinding. Every response forbids framing,
 * sniffing, referrers and scripts from anywhere but the server itself.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { errorMessage } from "../../algebra/ErrorMessage.ts";
import { api, type Latest } from "./Api.ts";

export interface ServerOptions {
  readonly host: string;
  readonly port: number;
  /** Required of every request when set. */
  readonly token: string | undefined;
  readonly assets: ReadonlyMap<string, { readonly body: Buffer; readonly type: string }>;
  /** Where the data comes from, for the page's header (never a secret). */
  readonly backend: string;
  readonly latest: () => Latest;
}

export interface DashboardServer {
  /** The URL to open, with the token when there is one. */
  readonly url: string;
  readonly port: number;
  /** Tells every connected page that `version` is out. */
  publish(version: number): void;
  close(): Promise<void>;
}

const COOKIE = "fleet_ui_token";
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

export const isLoopback = (host: string): boolean => LOOPBACK_HOSTS.has(host) || /^127(\.\d{1,3}){3}$/.test(host);

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cache-control": "no-store",
};

const sameSecret = (a: string, b: string): boolean => {
  // Hash first: timingSafeEqual needs equal lengths, and the length must not leak either.
  const h = (s: string): Buffer => createHash("sha256").update(s).digest();
  return timingSafeEqual(h(a), h(b));
};

const cookieValue = (header: string | undefined, name: string): string | undefined => {
  for (const part of (header ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return v.join("=");
  }
  return undefined;
};

/** The token a request carries, and whether it came in the query (then the page gets the cookie). */
const presented = (req: IncomingMessage, query: URLSearchParams): { readonly token: string | undefined; readonly fromQuery: boolean } => {
  const q = query.get("token");
  if (q !== null) return { token: q, fromQuery: true };
  const auth = req.headers.authorization;
  if (auth !== undefined && auth.startsWith("Bearer ")) return { token: auth.slice(7), fromQuery: false };
  return { token: cookieValue(req.headers.cookie, COOKIE), fromQuery: false };
};

const hostName = (hostHeader: string): string => (hostHeader.startsWith("[") ? hostHeader.slice(0, hostHeader.indexOf("]") + 1) : (hostHeader.split(":")[0] ?? ""));

const send = (res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void => {
  res.writeHead(status, { ...SECURITY_HEADERS, "content-type": type, "content-length": String(Buffer.byteLength(body)), ...extra });
  res.end(res.req.method === "HEAD" ? undefined : body);
};

const sendJson = (res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void =>
  send(res, status, "application/json; charset=utf-8", JSON.stringify(body), extra);

export const startServer = async (o: ServerOptions): Promise<DashboardServer> => {
  const streams = new Set<ServerResponse>();
  const loopback = isLoopback(o.host);
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? "/", "http://dashboard.invalid");
    if (req.method !== "GET" && req.method !== "HEAD") return sendJson(res, 405, { error: { message: "the dashboard is read-only: GET only" } }, { allow: "GET, HEAD" });
    if (loopback && !isLoopback(hostName(req.headers.host ?? ""))) return sendJson(res, 403, { error: { message: "Host header is not loopback" } });
    const extra: Record<string, string> = {};
    if (o.token !== undefined) {
      const p = presented(req, url.searchParams);
      if (p.token === undefined || !sameSecret(p.token, o.token))
        return sendJson(res, 401, { error: { message: "missing or wrong token: open the URL that `fleet ui` printed" } });
      if (p.fromQuery) extra["set-cookie"] = `${COOKIE}=${encodeURIComponent(o.token)}; HttpOnly; SameSite=Strict; Path=/`;
    }
    const asset = o.assets.get(url.pathname);
    if (asset !== undefined) return send(res, 200, asset.type, asset.body, extra);
    if (url.pathname === "/api/events") {
      res.writeHead(200, { ...SECURITY_HEADERS, ...extra, "content-type": "text/event-stream; charset=utf-8", connection: "keep-alive" });
      if (req.method === "HEAD") return void res.end();
      res.write(`retry: 2000\n\nevent: change\ndata: ${JSON.stringify({ version: o.latest().version })}\n\n`);
      streams.add(res);
      // A comment now and then keeps proxies and idle timers from closing the stream.
      const keepAlive = setInterval(() => res.write(": keep-alive\n\n"), 15_000);
      keepAlive.unref();
      res.on("close", () => {
        clearInterval(keepAlive);
        streams.delete(res);
      });
      return;
    }
    if (url.pathname.startsWith("/api/")) {
      const r = api(url.pathname, url.searchParams, o.latest(), o.backend);
      return sendJson(res, r.status, r.body, extra);
    }
    return sendJson(res, 404, { error: { message: `no such page ${url.pathname}` } });
  };

  const server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (e) {
      // One bad request never stops the server.
      if (!res.headersSent) sendJson(res, 500, { error: { message: errorMessage(e) } });
      else res.destroy();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = o.host.includes(":") ? `[${o.host}]` : o.host;
  return {
    url: `http://${shownHost}:${port}/${o.token !== undefined ? `?token=${encodeURIComponent(o.token)}` : ""}`,
    port,
    publish: (version) => {
      for (const s of streams) s.write(`event: change\ndata: ${JSON.stringify({ version })}\n\n`);
    },
    close: async () => {
      for (const s of streams) s.end();
      streams.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
};

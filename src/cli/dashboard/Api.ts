/**
 * The dashboard's read-only JSON API as a pure function from a request to a
 * response, over the latest observation of the backend:
 *
 * - `GET /api/status`            counts per deployment, device totals, latest errors, unreadable records
 * - `GET /api/devices?selector=` the device table, narrowed by a selector; a bad
 *                                 selector is a 400 with `{ error: { message, position, input } }`
 * - `GET /api/devices/ID`        the device's explanation (what `fleet explain` prints)
 * - `GET /api/plan`              what `fleet apply` would do now
 *
 * Every body carries `version` (of the data, see `Live.ts`), `readAt` and
 * `readError` (the last read's failure, while the data shown is older).
 */
import * as E from "fp-ts/lib/Either.js";
import { formatInvalidName, parseDeviceId } from "../../algebra/Name.ts";
import { explainDevice } from "./DeviceExplanation.ts";
import { devicesView, planView, statusView, type Observation } from "./Snapshot.ts";

export interface Latest {
  readonly version: number;
  /** The last good read; undefined until the first read succeeds. */
  readonly observation: Observation | undefined;
  readonly error: string | undefined;
}

export interface ApiResponse {
  readonly status: number;
  readonly body: unknown;
}

const meta = (latest: Latest, backend: string) => ({
  version: latest.version,
  backend,
  ...(latest.observation !== undefined ? { readAt: latest.observation.now.toISOString() } : {}),
  ...(latest.error !== undefined ? { readError: latest.error } : {}),
});

const fail = (status: number, message: string, extra: Record<string, unknown> = {}): ApiResponse => ({ status, body: { error: { message, ...extra } } });

/** `path` without the query; `query` decoded. Only GET reaches here. */
export const api = (path: string, query: URLSearchParams, latest: Latest, backend: string): ApiResponse => {
  const o = latest.observation;
  if (o === undefined) return fail(503, latest.error === undefined ? "the backend has not been read yet" : `cannot read the backend: ${latest.error}`);
  const m = meta(latest, backend);
  if (path === "/api/status") return { status: 200, body: { ...m, ...statusView(o) } };
  if (path === "/api/plan") return { status: 200, body: { ...m, ...planView(o) } };
  if (path === "/api/devices") {
    const r = devicesView(o, query.get("selector") ?? "");
    return E.isLeft(r)
      ? fail(400, r.left.message, { position: r.left.position, input: r.left.input })
      : { status: 200, body: { ...m, ...r.right } };
  }
  if (path.startsWith("/api/devices/")) {
    const raw = path.slice("/api/devices/".length);
    let text: string;
    try {
      text = decodeURIComponent(raw);
    } catch {
      return fail(400, `invalid device id ${JSON.stringify(raw)}: bad percent-encoding`);
    }
    const id = parseDeviceId(text);
    if (E.isLeft(id)) return fail(400, formatInvalidName(id.left));
    const r = explainDevice(o, id.right);
    return E.isLeft(r) ? fail(404, r.left.message) : { status: 200, body: { ...m, ...r.right } };
  }
  return fail(404, `no such API path ${path}`);
};

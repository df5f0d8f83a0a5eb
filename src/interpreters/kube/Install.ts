/**
 * Installing and upgrading the CRDs.
 *
 * `installCrds` applies both definitions (server-side apply, field manager
 * `fleet-algebra`, forced: the project owns its definitions, a hand edit is
 * reverted) and waits until the server reports them Established, so objects
 * can be written right after. `ensureCrds` does that only when a definition
 * is missing or carries another definition hash (an older or newer schema).
 * When the caller may not read CRDs at all (RBAC), `ensureCrds` assumes an
 * administrator installed them and lets the object writes speak.
 */
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { BackendUnavailableError } from "../Interpreter.ts";
import { formatFailure, type Api } from "./Api.ts";
import { DEFINITION_HASH_ANNOTATION, crds, definitionHash } from "./Crds.ts";
import { CONTROL_PLANE } from "./FieldOwners.ts";

const CrdState = t.partial({
  metadata: t.partial({ annotations: t.record(t.string, t.string) }),
  status: t.partial({
    conditions: t.array(t.intersection([t.type({ type: t.string, status: t.string }), t.partial({ reason: t.string, message: t.string })])),
  }),
});

const nameOf = (crd: Readonly<Record<string, unknown>>): string => (crd.metadata as { name: string }).name;

const established = (u: unknown): { readonly ok: boolean; readonly why: string } => {
  const s = CrdState.decode(u);
  if (E.isLeft(s)) return { ok: false, why: "unreadable status" };
  const conditions = s.right.status?.conditions ?? [];
  const c = conditions.find((x) => x.type === "Established");
  if (c?.status === "True") return { ok: true, why: "" };
  const names = conditions.find((x) => x.type === "NamesAccepted" && x.status === "False");
  return { ok: false, why: names?.message ?? c?.message ?? "no Established condition yet" };
};

export interface InstallOptions {
  readonly timeoutMs?: number;
}

export const installCrds = async (api: Api, options: InstallOptions = {}): Promise<ReadonlyArray<string>> => {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (const crd of crds()) {
    const r = await api.applyCrd(nameOf(crd), crd, CONTROL_PLANE);
    if (E.isLeft(r)) throw new BackendUnavailableError(`installing CRD ${nameOf(crd)}: ${formatFailure(r.left)}`);
  }
  for (const crd of crds()) {
    for (;;) {
      const got = await api.getCrd(nameOf(crd));
      if (E.isLeft(got)) throw new BackendUnavailableError(`reading CRD ${nameOf(crd)}: ${formatFailure(got.left)}`);
      const e = established(got.right);
      if (e.ok) break;
      if (Date.now() > deadline) throw new BackendUnavailableError(`CRD ${nameOf(crd)} is not Established: ${e.why}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return crds().map(nameOf);
};

/** True when both CRDs are installed at this version of their definitions (or cannot be checked). */
export const crdsCurrent = async (api: Api): Promise<boolean> => {
  for (const crd of crds()) {
    const got = await api.getCrd(nameOf(crd));
    if (E.isLeft(got)) {
      if (got.left._tag === "Denied") return true;
      if (got.left._tag === "NotFound") return false;
      throw new BackendUnavailableError(`reading CRD ${nameOf(crd)}: ${formatFailure(got.left)}`);
    }
    const s = CrdState.decode(got.right);
    const hash = E.isRight(s) ? s.right.metadata?.annotations?.[DEFINITION_HASH_ANNOTATION] : undefined;
    if (hash !== definitionHash(crd) || !established(got.right).ok) return false;
  }
  return true;
};

export const ensureCrds = async (api: Api): Promise<void> => {
  if (!(await crdsCurrent(api))) await installCrds(api);
};

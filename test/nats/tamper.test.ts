/**
 * Tamper on read against a real nats-server: an entry written straight into
 * the desired-state bucket with its spec edited and its stated hash kept is
 * not trusted: the plan republishes it (a repair), the apply restores it,
 * and an agent never runs the edited spec.
 */
import { describe, expect, it } from "vitest";
import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { device } from "../../src/algebra/Device.ts";
import { deployment, podman, specHash } from "../../src/algebra/Deployment.ts";
import { diff } from "../../src/diff/Diff.ts";
import { label } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { world } from "../../src/world/World.ts";
import { BUCKET } from "../../src/interpreters/nats/Buckets.ts";
import { encodeDesiredValue } from "../../src/interpreters/nats/wire.ts";
import { planLines } from "../../src/cli/PlanText.ts";
import { paint } from "../../src/cli/Terminal.ts";
import { useNats } from "./support.ts";

const web = deployment("web", podman({ services: [{ name: "httpd", image: "registry.local/httpd:2.4" }] }));
const forged = deployment("web", podman({ services: [{ name: "httpd", image: "evil.example/httpd:latest" }] }));
const W = world({ fleet: [device("pi-01", { labels: { env: "prod" } })], assignments: [assign(label("env", "prod"), web)] });

describe("tampered desired entries on NATS", () => {
  const nats = useNats({ name: "tamper" });

  it("a spec edited behind the control plane's back (hash kept) is planned as a repair and restored by apply", async () => {
    const now = new Date();
    const first = await nats.fleet.read();
    expect((await nats.fleet.apply(diff(W, first.reality, { now }))). _tag).toBe("Completed");

    // Another client with write access edits the spec and keeps the stated hash.
    const nc = await connect({ servers: nats.server.url });
    try {
      const kv = await new Kvm(jetstream(nc)).open(BUCKET.desired);
      await kv.put("pi-01.web", encodeDesiredValue(forged, specHash(web)));
    } finally {
      await nc.close();
    }

    const { reality } = await nats.fleet.read();
    expect(reality.desired.get("pi-01" as never)?.get("web" as never)?.tampered).toMatch(/spec does not match its hash/);
    const plan = diff(W, reality, { now });
    expect(plan.actions).toHaveLength(1);
    const a = plan.actions[0];
    expect(a?._tag === "Update" && a.repair).toMatch(/spec does not match its hash/);
    expect([...planLines(plan, "device", paint(false))].join("\n")).toMatch(/~ web .*tampered: spec does not match its hash .*→ republish/);

    expect((await nats.fleet.apply(plan))._tag).toBe("Completed");
    const after = await nats.fleet.read();
    expect(after.reality.desired.get("pi-01" as never)?.get("web" as never)?.tampered).toBeUndefined();
    expect(diff(W, after.reality, { now }).actions).toEqual([]);
  });
});

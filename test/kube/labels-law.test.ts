/**
 * Law of the Device labels (pure, no server): for every World, Reality and
 * selector with a LabelSelector form, the Device objects whose written labels
 * satisfy that LabelSelector are exactly the fleet's matches, plus the objects
 * outside the fleet when the selector matches a device without labels.
 * test/kube/labels.test.ts checks the same on a real kube-apiserver.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as O from "fp-ts/lib/Option.js";
import { device } from "../../src/algebra/Device.ts";
import type { DeviceId } from "../../src/algebra/Name.ts";
import { targets } from "../../src/diff/Targets.ts";
import { wantedLabels } from "../../src/interpreters/kube/DeviceLabels.ts";
import { fromLabelSelector, toLabelSelector } from "../../src/selectors/LabelSelector.ts";
import { matches } from "../../src/selectors/Selector.ts";
import { IDS, labelOnlySelectorArb, realityArb, worldArb } from "../laws/arbitraries.ts";

describe("Device labels: kubectl -l agrees with the fleet", () => {
  it("law: objects selected by the LabelSelector over their written labels = the fleet's matches (+ unlabelled strays iff the selector matches no labels)", () => {
    fc.assert(
      fc.property(worldArb, realityArb(), labelOnlySelectorArb, (w, r, s) => {
        const ls = toLabelSelector(s);
        if (O.isNone(ls)) return;
        // The label selector as Kubernetes evaluates it, over labels only.
        const k8s = fromLabelSelector(ls.value);
        if (O.isNone(k8s)) throw new Error("a LabelSelector that does not read back");
        const objects = IDS as ReadonlyArray<string> as ReadonlyArray<DeviceId>;
        const wanted = wantedLabels(w, objects, r);
        const listed = objects.filter((id) => matches(k8s.value)(device(id, { labels: { ...(wanted.get(id)?.labels ?? {}) } }))).sort();
        const fleet = targets(w, r).fleet.devices;
        const inFleet = new Set<string>(fleet.map((d) => d.id));
        const strays = objects.filter((id) => !inFleet.has(id));
        const expected = [...fleet.filter(matches(s)).map((d) => d.id), ...strays.filter((id) => matches(s)(device(id, { labels: {} })))].sort();
        expect(listed).toEqual(expected);
        // Declared devices show their declaration beside the report.
        for (const d of fleet) expect(wanted.get(d.id)?.declared === undefined).toBe(O.isNone(w.fleet));
      }),
    );
  });
});

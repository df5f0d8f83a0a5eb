/**
 * Production: the platform team's World and the apps team's, merged.
 *
 * Worlds merge with `WorldMonoid` (a commutative, idempotent monoid), so each
 * team keeps its own file and the order of merging never matters; a conflict
 * between them (the same deployment name with different specs at one
 * priority on one device) is reported by `fleet plan`, never resolved
 * silently. The same merge happens with `fleet plan fleets/teams/*.ts`.
 *
 *   npx fleet validate fleets/prod.ts
 *   npx fleet plan fleets/prod.ts
 *   npx fleet explain fleets/prod.ts pi-berlin-01
 */
import { WorldMonoid, type Device, type World } from "fleet-algebra";
import platform from "./teams/platform.ts";
import apps from "./teams/apps.ts";

export default (inventory: ReadonlyArray<Device>): World => WorldMonoid.concat(platform, apps(inventory));

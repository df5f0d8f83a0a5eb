/**
 * fleet-algebra: the public API of the pure core.
 *
 * One explicit export list (no `export *`), so the public surface is visible
 * here. Transport interpreters live behind subpath exports
 * (`fleet-algebra/nats`, `/kube`, `/podman`, `/local`) so that a user of the
 * algebra never loads a transport client. The program layer (what the CLI
 * does, minus rendering) is exported here: it takes an `Interpreter` as a
 * value and imports no transport.
 */

// names, labels, devices, fleets
export {
  DeviceId,
  DeploymentName,
  parseDeviceId,
  parseDeploymentName,
  isDnsLabel,
  InvalidNameError,
  entryKey,
  type InvalidName,
} from "./algebra/Name.ts";
export { type Labels, isLabelKey, isLabelValue } from "./algebra/Labels.ts";
export {
  device,
  parseDevice,
  DeviceCodec,
  EqDevice,
  OrdDevice,
  InvalidDeviceError,
  formatDeviceError,
  type Device,
  type DeviceOptions,
  type DeviceError,
  type Inventory,
} from "./algebra/Device.ts";
export * as Fleet from "./algebra/Fleet.ts";
export {
  deployment,
  podman,
  specHash,
  shortHash,
  DeploymentCodec,
  ScoreCodec,
  IMMEDIATE,
  InvalidDeploymentError,
  type Deployment,
  type Score,
  type PodmanV0,
  type Service,
  type ServiceInput,
  type PortMapping,
  type VolumeMount,
  type RestartPolicy,
  type Rollout,
} from "./algebra/Deployment.ts";
export { canonicalJson, contentHash } from "./algebra/Canonical.ts";
export { formatValidationErrors, decodeProblems, type DecodeProblem } from "./algebra/DecodeError.ts";

// selectors
export {
  label,
  labelNotEquals,
  labelIn,
  labelNotIn,
  hasLabel,
  lacksLabel,
  labelGt,
  labelLt,
  arch,
  deviceIds,
  all,
  none,
  and,
  or,
  not,
  matches,
  compile,
  select,
  partitionBy,
  labelKeys,
  SelectorBooleanAlgebra,
  InvalidSelectorError,
  type Selector,
} from "./selectors/Selector.ts";
export { match as matchSelector } from "./selectors/Selector.ts";
export { parseSelector, formatSelectorError, type SelectorError } from "./selectors/Parse.ts";
export { printSelector } from "./selectors/Print.ts";
export { explain, renderExplanation, type Explanation } from "./selectors/Explain.ts";
export {
  toLabelSelector,
  fromLabelSelector,
  type LabelSelector,
  type LabelSelectorRequirement,
} from "./selectors/LabelSelector.ts";

// worlds
export { assign, selector, InvalidAssignmentError, type Assignment, type AssignOptions } from "./world/Assignment.ts";
export { world, emptyWorld, WorldMonoid, EqWorld, worldHash, declarations, declarationsOf, type World, type Redeclaration } from "./world/World.ts";
export { rollout, waves, InvalidRolloutError, type RolloutInput } from "./world/Rollout.ts";

// diff
export {
  emptyReality,
  reality,
  desiredEntries,
  observedEntries,
  RealityCodec,
  type Reality,
  type ReportedDevice,
  type DesiredEntry,
  type ObservedState,
  type Phase,
} from "./diff/Reality.ts";
export {
  matchAction,
  matchConflict,
  compareActions,
  OrdAction,
  OrdConflict,
  isEmptyPlan,
  type Action,
  type ActionTag,
  type Plan,
  type Conflict,
  type Summary,
  type Presence,
  type AssignedBy,
  type Skipped,
} from "./diff/Plan.ts";
export { diff, resolver, planDevice, removedDevices, presenceAt, DEFAULT_OFFLINE_AFTER_MS, type DiffOptions, type DeviceStep } from "./diff/Diff.ts";
export { targets, skippedOf, type Targets, type LeftAlone } from "./diff/Targets.ts";
export { clashes, type Clash, type HostPortClash, type MountClash, type PortBinding } from "./diff/Clash.ts";
export { explainDevice, type DeviceExplanation, type NameRow, type Fate, type UnknownDevice } from "./diff/DeviceExplanation.ts";
export { applyPlan, stalePreconditions, type StaleEntry } from "./diff/Apply.ts";
export { resolve, type Resolution, type Shadowed } from "./diff/Resolve.ts";
export {
  status,
  type FleetStatus,
  type DeploymentStatusSummary,
  type DeviceStatus,
  type DeviceDeploymentStatus,
  type DeviceDeploymentState,
} from "./diff/Status.ts";

// interpreters (interface + the in-memory reference; transports are subpath exports)
export type {
  Interpreter,
  ReadResult,
  ReadProblem,
  ApplyResult,
  ApplyOptions,
  ActionOutcome,
  Progress,
} from "./interpreters/Interpreter.ts";
export { memory, type MemoryInterpreter } from "./interpreters/memory/index.ts";

// the program layer: the CLI's use cases over an Interpreter value, for embedding tools
export { plan, planFrom, inventoryOf, type Planned, type PlanOptions, type WorldSource } from "./program/Plan.ts";
export { apply, countApplied, type ApplyReport, type ApplyCounts, type ProgramApplyOptions } from "./program/Apply.ts";
export { bindSavedPlan, realityDigest, type SavedPlan, type BindingRefusal, type BindOptions, type Bound } from "./program/Binding.ts";
export { fleetStatus, deviceStatus, type StatusReport, type NoDeviceStatus } from "./program/Status.ts";
export { worldWarnings, formatWorldWarning, matchWorldWarning, nearestKey, OrdWorldWarning, type WorldWarning } from "./program/Warnings.ts";
export { errorMessage } from "./algebra/ErrorMessage.ts";

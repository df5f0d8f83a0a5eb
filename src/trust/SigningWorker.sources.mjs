// The signing thread's entry when running from the TypeScript sources (SigningThread.ts):
// a worker does not inherit the tsx loader, so it registers it before loading the worker module.
// From dist/ the worker module is plain JavaScript and this file is not used.
import { register } from "tsx/esm/api";

register();
await import("./SigningWorker.ts");

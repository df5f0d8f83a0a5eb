/**
 * fleet-algebra/nats: desired state in NATS JetStream KV (work in progress).
 */
import type { Interpreter } from "../Interpreter.ts";
import { BackendUnavailableError } from "../Interpreter.ts";

export interface NatsOptions {
  servers: string | string[];
  credsFile?: string;
  token?: string;
  user?: string;
  pass?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  name?: string;
  replicas?: number;
  lockTtlMs?: number;
}

export interface NatsInterpreter extends Interpreter {}

export const nats = async (_options: NatsOptions): Promise<NatsInterpreter> => {
  throw new BackendUnavailableError("nats: not implemented yet");
};

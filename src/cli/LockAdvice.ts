/**
 * What to tell someone whose apply found the state locked: only flags and
 * commands that work for the backend in use.
 */
import type { BackendConfig } from "./backends.ts";

export const lockedAdvice = (c: BackendConfig): string => {
  switch (c._tag) {
    case "local":
      return "Retry with --lock-timeout DURATION, or if no apply is running, remove the lock with fleet force-unlock LOCK_ID";
    case "nats":
      return (
        // The message already says until when: a holder that stops renewing loses the lock then.
        "Retry with --lock-timeout DURATION (a dead holder's lock expires by itself at that time), " +
        `or if its holder is dead, break it with fleet force-unlock --backend nats --nats ${c.servers.join(",")} LOCK_ID`
      );
    case "kube":
    case "podman":
      return "Retry later";
  }
};

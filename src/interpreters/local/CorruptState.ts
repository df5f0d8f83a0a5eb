/**
 * What to tell the operator when the local state file is unusable: how to
 * recover, naming only files that exist and can help (a backup is offered
 * only when there is one that decodes).
 */

/** What was found where the backup should be. */
export type BackupFound =
  | { readonly _tag: "Usable"; readonly serial: number }
  | { readonly _tag: "Unusable" }
  | { readonly _tag: "Missing" };

export const recoveryAdvice = (path: string, backup: string, found: BackupFound): string => {
  const fresh = `move ${path} away to start from an empty state`;
  switch (found._tag) {
    case "Usable":
      return `${path} is not a usable state file; nothing was changed. To recover, restore the previous state: \`cp ${backup} ${path}\` (serial ${found.serial}), or ${fresh}`;
    case "Unusable":
      return `${path} is not a usable state file, and neither is its backup ${backup}; nothing was changed. To recover, repair ${path} by hand, or ${fresh}`;
    case "Missing":
      return `${path} is not a usable state file, and there is no backup; nothing was changed. To recover, repair it by hand, or ${fresh}`;
  }
};

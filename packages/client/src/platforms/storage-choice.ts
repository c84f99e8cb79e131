import type { StorageBackendId, StoragePlatform } from '@deepforge/protocol';

export interface StorageOption {
  value: StorageBackendId;
  label: string;
  disabled: boolean;
}

/**
 * What the storage selects show: every backend the server lists (GET /api/platforms). One it cannot use is shown
 * disabled with the server's reason, so a choice that would be refused is never offered.
 */
export function storageOptions(list: readonly StoragePlatform[]): StorageOption[] {
  return list.map((p) => ({
    value: p.id,
    label: p.available ? p.name : `${p.name} (${p.reason ?? 'unavailable'})`,
    disabled: !p.available,
  }));
}

/**
 * The backend a dialog sends: the one picked while the server still offers it, else the first it offers, else
 * none (the dialog then cannot submit).
 */
export function chosenStorage(
  list: readonly StoragePlatform[],
  picked: StorageBackendId | null,
): StorageBackendId | null {
  if (picked !== null && list.some((p) => p.id === picked && p.available)) return picked;
  return list.find((p) => p.available)?.id ?? null;
}

/** Why nothing can be chosen, from the server's reasons; null when something can. */
export function noStorageReason(list: readonly StoragePlatform[]): string | null {
  if (list.some((p) => p.available)) return null;
  const reasons = list.map((p) => p.reason).filter((r): r is string => r !== undefined);
  return `This server has no storage it can use${reasons.length > 0 ? `: ${reasons.join('; ')}` : ''}`;
}

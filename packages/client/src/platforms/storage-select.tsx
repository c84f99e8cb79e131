import type { StorageBackendId } from '@deepforge/protocol';
import { Select } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { getPlatforms, qk } from '../api/endpoints.js';
import { errorMessage } from '../api/http.js';
import { chosenStorage, noStorageReason, storageOptions } from './storage-choice.js';

export interface StorageChoice {
  /** What the request names; null while the platforms load, or when the server can use none. */
  storage: StorageBackendId | null;
  select: { value: StorageBackendId | null; onChange: (v: StorageBackendId) => void };
  options: ReturnType<typeof storageOptions>;
  loading: boolean;
  /** Why nothing can be chosen (the platforms could not be read, or the server can use no storage). */
  problem: string | null;
}

/** The storage backends the server offers (GET /api/platforms) and the one chosen among them. */
export function useStorageChoice(): StorageChoice {
  const platforms = useQuery({ queryKey: qk.platforms, queryFn: getPlatforms, staleTime: 60_000 });
  const [picked, setPicked] = useState<StorageBackendId | null>(null);
  const list = platforms.data?.storage ?? [];
  const storage = platforms.data ? chosenStorage(list, picked) : null;
  return {
    storage,
    select: { value: storage, onChange: setPicked },
    options: storageOptions(list),
    loading: platforms.isPending,
    problem: platforms.error
      ? `Cannot read the server's storage: ${errorMessage(platforms.error)}`
      : platforms.data
        ? noStorageReason(list)
        : null,
  };
}

/** "Storage": the backends the server lists; those it cannot use are shown disabled with the reason. */
export function StorageSelect({
  choice,
  description,
  testId,
}: {
  choice: StorageChoice;
  description: string;
  testId: string;
}) {
  return (
    <Select
      label="Storage"
      description={description}
      data={choice.options}
      value={choice.select.value}
      onChange={(v) => {
        if (v !== null) choice.select.onChange(v as StorageBackendId);
      }}
      allowDeselect={false}
      placeholder={choice.loading ? 'Loading…' : undefined}
      disabled={choice.loading}
      error={choice.problem}
      data-testid={testId}
    />
  );
}

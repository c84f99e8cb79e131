import type { ExecutionDetailsDto, Platform } from '@deepforge/protocol';
import type { SlurmJobOptions } from '@deepforge/protocol';
import {
  Alert,
  Button,
  Checkbox,
  Fieldset,
  Group,
  List,
  Modal,
  Select,
  SimpleGrid,
  Stack,
  Text,
  Textarea,
  TextInput,
} from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { getPlatforms, qk, startExecution } from '../api/endpoints.js';
import { ApiRequestError, errorMessage } from '../api/http.js';
import { defaultCompute, parseGpus, parseLabels, placementFields } from '../lib/placement.js';
import { parseNodeSlurm, SLURM_FIELDS, slurmOptions } from '../lib/slurm-fields.js';
import { StorageSelect, useStorageChoice } from '../platforms/storage-select.js';

export interface ExecuteModalProps {
  projectId: string;
  pipeline: string;
  /**
   * Errors the editor already knows of (the server refuses the same): listed, and Execute disabled until they are
   * fixed.
   */
  errors: readonly { message: string }[];
  onClose: () => void;
  onStarted: (execution: ExecutionDetailsDto) => void;
}

function defaultName(pipeline: string): string {
  const d = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pipeline} ${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** "Execute Pipeline": name the execution, choose where it computes and where it stores (as in DeepForge). */
export function ExecuteModal({ projectId, pipeline, errors, onClose, onStarted }: ExecuteModalProps) {
  const queryClient = useQueryClient();
  const platforms = useQuery({ queryKey: qk.platforms, queryFn: getPlatforms, staleTime: 60_000 });
  const [name, setName] = useState(() => defaultName(pipeline));
  // null until the user picks: then the first compute the server offers (workers under --server, Slurm…).
  const [picked, setPicked] = useState<string | null>(null);
  const compute = picked ?? defaultCompute(platforms.data?.compute);
  const fields = placementFields(compute);
  const [labelsText, setLabelsText] = useState('');
  const [gpusText, setGpusText] = useState('');
  const labels = parseLabels(labelsText);
  const gpus = parseGpus(gpusText);
  // Slurm: options of every job (empty fields: the server's compute.slurm.* defaults), and of some nodes.
  const onSlurm = compute === 'slurm';
  const slurmDefaults = platforms.data?.compute.find((p) => p.id === 'slurm')?.slurm ?? {};
  const [slurmText, setSlurmText] = useState<Partial<Record<keyof SlurmJobOptions, string>>>({});
  const [nodeSlurmText, setNodeSlurmText] = useState('');
  const slurm = slurmOptions(slurmText);
  const nodeSlurm = parseNodeSlurm(nodeSlurmText);
  const slurmOk = !onSlurm || (slurm.ok && nodeSlurm.ok);
  // One server stores in one backend: the configured one is offered and sent; the others are shown, disabled.
  const storage = useStorageChoice();
  const [cache, setCache] = useState(false);
  const mutation = useMutation({
    mutationFn: () =>
      startExecution(projectId, {
        pipeline,
        name: name.trim() || defaultName(pipeline),
        ...(compute === 'local' || compute === 'workers' || compute === 'slurm' ? { compute } : {}),
        ...(storage.storage !== null ? { storage: storage.storage } : {}),
        ...(fields.labels && labels.ok && labels.value.length > 0 ? { labels: labels.value } : {}),
        ...(fields.gpus && gpus.ok && gpus.value !== undefined ? { gpus: gpus.value } : {}),
        ...(onSlurm && slurm.ok && Object.keys(slurm.value).length > 0 ? { slurm: slurm.value } : {}),
        ...(onSlurm && nodeSlurm.ok && Object.keys(nodeSlurm.value).length > 0
          ? { nodeSlurm: nodeSlurm.value }
          : {}),
        cache,
      }),
    onSuccess: (e) => {
      void queryClient.invalidateQueries({ queryKey: qk.executions(projectId) });
      onStarted(e);
      onClose();
    },
  });
  const options = (list: Platform[] | undefined, fallback: string) =>
    (list ?? [{ id: fallback, name: fallback, available: true }]).map((p) => ({
      value: p.id,
      label: p.available ? p.name : `${p.name} (${p.reason ?? 'unavailable'})`,
      disabled: !p.available,
    }));
  const computeUnavailable = platforms.data && !platforms.data.compute.some((c) => c.available);
  const error = mutation.error;
  return (
    <Modal opened onClose={onClose} title={`Execute ${pipeline}`} data-testid="execute-modal">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          mutation.mutate();
        }}
      >
        <Stack gap="sm">
          <TextInput
            label="Execution name"
            data-autofocus
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            data-testid="execution-name-input"
          />
          <Select
            label="Compute"
            description="Where the operations run"
            data={options(platforms.data?.compute, 'local')}
            value={compute}
            onChange={setPicked}
            allowDeselect={false}
            data-testid="execution-compute"
          />
          {fields.labels && (
            <TextInput
              label="Worker labels"
              description="Every operation runs only on a worker with all of these (nodes may require more)"
              placeholder="e.g. gpu, a100"
              value={labelsText}
              onChange={(e) => setLabelsText(e.currentTarget.value)}
              error={labels.ok ? undefined : labels.error}
              data-testid="execution-labels"
            />
          )}
          {fields.gpus && (
            <TextInput
              label="GPUs per operation"
              description="Each operation gets this many GPUs of its own (a node may ask for more); empty: none"
              placeholder="0"
              inputMode="numeric"
              value={gpusText}
              onChange={(e) => setGpusText(e.currentTarget.value)}
              error={gpus.ok ? undefined : gpus.error}
              data-testid="execution-gpus"
            />
          )}
          {onSlurm && (
            <Fieldset legend="Slurm" data-testid="execution-slurm">
              <SimpleGrid cols={2} spacing="xs" verticalSpacing={6}>
                {SLURM_FIELDS.map(({ key, label, example }) => (
                  <TextInput
                    key={key}
                    size="xs"
                    label={label}
                    placeholder={
                      slurmDefaults[key] !== undefined
                        ? `${String(slurmDefaults[key])} (the server's)`
                        : `none, e.g. ${example}`
                    }
                    value={slurmText[key] ?? ''}
                    onChange={(e) => {
                      const text = e.currentTarget.value;
                      setSlurmText((prev) => ({ ...prev, [key]: text }));
                    }}
                    error={slurm.ok ? undefined : slurm.errors[key]}
                    data-testid={`slurm-${key}`}
                  />
                ))}
              </SimpleGrid>
              <Textarea
                mt="xs"
                size="xs"
                label="Options of some nodes"
                description="node.option=value, one per line (as deepforge run --slurm): a node's own win over the ones above"
                placeholder={'train.gres=gpu:1\ntrain.time=8:00:00'}
                autosize
                minRows={2}
                maxRows={6}
                value={nodeSlurmText}
                onChange={(e) => setNodeSlurmText(e.currentTarget.value)}
                error={nodeSlurm.ok ? undefined : nodeSlurm.error}
                styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
                data-testid="execution-node-slurm"
              />
            </Fieldset>
          )}
          <StorageSelect
            choice={storage}
            description="Where inputs are read from and outputs and saved artifacts are kept"
            testId="execution-storage"
          />
          <Checkbox
            label="Reuse results of unchanged operations (cache)"
            checked={cache}
            onChange={(e) => setCache(e.currentTarget.checked)}
            data-testid="execution-cache"
          />
          {errors.length > 0 && (
            <Alert color="red" p="xs" data-testid="execute-errors">
              <Text size="xs" fw={600}>
                Fix {errors.length === 1 ? 'this error' : `these ${errors.length} errors`} to execute the
                pipeline (they are shown on its nodes too):
              </Text>
              <List size="xs" mt={4}>
                {errors.map((d, i) => (
                  <List.Item key={i}>{d.message}</List.Item>
                ))}
              </List>
            </Alert>
          )}
          {computeUnavailable && (
            <Alert color="orange" p="xs">
              <Text size="xs">This server runs no operations itself (started without local compute).</Text>
            </Alert>
          )}
          {error && (
            <Alert color="red" p="xs" data-testid="execute-error">
              <Text size="xs" fw={600}>
                {errorMessage(error)}
              </Text>
              {error instanceof ApiRequestError && error.diagnostics.length > 0 && (
                <List size="xs" mt={4}>
                  {error.diagnostics
                    .filter((d) => d.severity === 'error')
                    .map((d, i) => (
                      <List.Item key={i}>{d.message}</List.Item>
                    ))}
                </List>
              )}
            </Alert>
          )}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button
              type="submit"
              color="yellow"
              c="dark"
              loading={mutation.isPending}
              disabled={errors.length > 0 || storage.storage === null || !labels.ok || !gpus.ok || !slurmOk}
              data-testid="execute-submit"
            >
              Execute
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

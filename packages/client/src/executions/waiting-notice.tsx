import { Alert, Anchor, Text } from '@mantine/core';
import { IconClockPause } from '@tabler/icons-react';
import { useQuery } from '@tanstack/react-query';
import { Fragment } from 'react';
import { Link } from 'react-router';
import { getPlatforms, qk } from '../api/endpoints.js';
import { useComputeState } from '../compute/use-compute-state.js';
import { waitingByReason } from '../lib/waiting-jobs.js';

/**
 * Why this execution's queued jobs wait (no worker connected, none with a label they need…), from the Compute
 * view's state, kept live while it is shown (the execution view shows it while some job is queued).
 */
export function WaitingNotice(props: { executionId: string; onSelect: (node: string) => void }) {
  // Only a server whose jobs run on workers has jobs waiting for one (local jobs wait for a slot, Slurm's in its
  // queue, each saying so in its console): elsewhere the Compute state is not watched for nothing.
  const platforms = useQuery({ queryKey: qk.platforms, queryFn: getPlatforms, staleTime: 60_000 });
  const onWorkers = platforms.data?.compute.some((c) => c.id === 'workers' && c.available) ?? false;
  return onWorkers ? <WaitingForWorkers {...props} /> : null;
}

function WaitingForWorkers({
  executionId,
  onSelect,
}: {
  executionId: string;
  onSelect: (node: string) => void;
}) {
  const state = useComputeState();
  const groups = waitingByReason(state.data?.waiting ?? [], executionId);
  if (groups.length === 0) return null;
  return (
    <Alert
      color="yellow"
      py={6}
      radius={0}
      icon={<IconClockPause size={16} />}
      data-testid="execution-waiting"
      style={{ flex: '0 0 auto' }}
    >
      {groups.map(({ reason, nodes }) => (
        <Text size="sm" key={reason}>
          {nodes.map((node, i) => (
            <Fragment key={node}>
              {i > 0 && ', '}
              <Anchor size="sm" fw={600} onClick={() => onSelect(node)}>
                {node}
              </Anchor>
            </Fragment>
          ))}{' '}
          {nodes.length === 1 ? 'waits' : 'wait'} for a worker: {reason}
        </Text>
      ))}
      <Anchor component={Link} to="/compute" size="xs">
        See the workers in Compute
      </Anchor>
    </Alert>
  );
}

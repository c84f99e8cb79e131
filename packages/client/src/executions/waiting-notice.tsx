import { Alert, Anchor, Text } from '@mantine/core';
import { IconClockPause } from '@tabler/icons-react';
import { Fragment } from 'react';
import { Link } from 'react-router';
import { useComputeState } from '../compute/use-compute-state.js';
import { waitingByReason } from '../lib/waiting-jobs.js';

/**
 * Why this execution's queued jobs wait (no worker connected, none with a label they need…), from the Compute
 * view's state, kept live while it is shown (the execution view shows it while some job is queued).
 */
export function WaitingNotice({
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

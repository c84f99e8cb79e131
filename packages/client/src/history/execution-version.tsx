import { Anchor } from '@mantine/core';
import { Link } from 'react-router';
import { executionVersionLinks } from './history.logic.js';

/**
 * On an execution's page: the version the run started from, in History, and what changed since (that version
 * against the live project). Nothing for runs older than history.
 */
export function ExecutionVersionLinks({
  projectId,
  version,
}: {
  projectId: string;
  version: string | undefined;
}) {
  if (!version) return null;
  const links = executionVersionLinks(projectId, version);
  return (
    <>
      {' · '}
      <Anchor component={Link} to={links.version} size="xs" data-testid="execution-version">
        version {links.label}
      </Anchor>
      {' · '}
      <Anchor component={Link} to={links.changes} size="xs" data-testid="execution-changes-since">
        What changed since this run
      </Anchor>
    </>
  );
}

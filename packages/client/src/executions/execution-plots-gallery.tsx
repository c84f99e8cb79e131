import type { ExecutionPlotDto } from '@deepforge/protocol';
import { Anchor, Center, Group, Loader, ScrollArea, SimpleGrid, Stack, Text } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { listExecutionPlots, qk } from '../api/endpoints.js';
import { errorMessage } from '../api/http.js';
import { PlotCard } from './job-plots.js';

/** The plots of the jobs, job by job in pipeline order, each job's by figure number. */
export function plotsByJob(
  plots: readonly ExecutionPlotDto[],
): { node: string; operation: string; plots: ExecutionPlotDto[] }[] {
  const jobs = new Map<string, { node: string; operation: string; plots: ExecutionPlotDto[] }>();
  for (const p of plots) {
    const job = jobs.get(p.node) ?? { node: p.node, operation: p.operation, plots: [] };
    job.plots.push(p);
    jobs.set(p.node, job);
  }
  for (const job of jobs.values()) job.plots.sort((a, b) => a.figure - b.figure);
  return [...jobs.values()];
}

/**
 * Every figure an execution's jobs drew, on one page: the summary of its plots. Each figure's heading links to
 * its job (the job's Plots tab). Read again when the execution is (a job ended) or a job drew (throttled by the view).
 */
export function ExecutionPlotsGallery({
  projectId,
  executionId,
  jobLink,
  reused = [],
}: {
  projectId: string;
  executionId: string;
  /** The address of a job's Plots tab. */
  jobLink: (node: string) => string;
  /** Jobs that reused an earlier job's outputs (the cache): they did not run here, so drew nothing. */
  reused?: readonly string[];
}) {
  const plots = useQuery({
    queryKey: qk.executionPlots(projectId, executionId),
    queryFn: () => listExecutionPlots(projectId, executionId),
  });
  if (plots.isPending)
    return (
      <Center h="100%">
        <Loader size="sm" />
      </Center>
    );
  if (plots.error)
    return (
      <Text c="red" size="sm" p="md">
        Cannot read the plots: {errorMessage(plots.error)}
      </Text>
    );
  const jobs = plotsByJob(plots.data.items);
  const reusedNote =
    reused.length > 0 ? (
      <Text size="xs" c="dimmed" data-testid="execution-plots-reused">
        Reused from the cache, so not run here and drew nothing: {reused.join(', ')}.
      </Text>
    ) : null;
  if (jobs.length === 0)
    return (
      <Center h="100%" data-testid="execution-plots-empty">
        <Stack gap={4} align="center">
          <Text size="sm" c="dimmed">
            No job of this execution has plotted anything yet (figures shown with matplotlib&apos;s plt.show()
            appear here).
          </Text>
          {reusedNote}
        </Stack>
      </Center>
    );
  return (
    <ScrollArea h="100%">
      <Stack gap="md" p="sm" pt={48} data-testid="execution-plots">
        <Text size="xs" c="dimmed">
          {plots.data.items.length} figure{plots.data.items.length === 1 ? '' : 's'} from {jobs.length} job
          {jobs.length === 1 ? '' : 's'}
        </Text>
        {reusedNote}
        {jobs.map((job) => (
          <Stack key={job.node} gap={6} data-testid="execution-plots-job" data-node={job.node}>
            <Group gap="xs">
              <Anchor component={Link} to={jobLink(job.node)} size="sm" fw={700} className="df-mono">
                {job.node}
              </Anchor>
              <Text size="xs" c="dimmed">
                {job.operation}
              </Text>
            </Group>
            <SimpleGrid type="container" cols={{ base: 1, '700px': 2, '1100px': 3 }}>
              {job.plots.map((p) => (
                <PlotCard
                  key={p.figure}
                  plot={p}
                  heading={
                    <Anchor
                      component={Link}
                      to={jobLink(job.node)}
                      size="xs"
                      fw={600}
                      truncate
                      data-testid="execution-plot-link"
                    >
                      {p.title ?? p.axes[0]?.title ?? `Figure ${p.figure}`}
                    </Anchor>
                  }
                />
              ))}
            </SimpleGrid>
          </Stack>
        ))}
      </Stack>
    </ScrollArea>
  );
}

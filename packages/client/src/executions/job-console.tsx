import { ActionIcon, Box, Button, Group, Progress, Text, TextInput, Tooltip } from '@mantine/core';
import { IconArrowBarToDown, IconDownload, IconRefresh, IconSearch } from '@tabler/icons-react';
import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { JobLive } from '../lib/execution-live.js';
import { formatBytes } from '../lib/job-status.js';
import type { LogLine } from '../lib/log-buffer.js';
import { ansiSpans } from '../lib/log-buffer.js';

const ROW = 18;

function Line({ line }: { line: LogLine }) {
  const spans = useMemo(() => ansiSpans(line.text), [line.text]);
  return (
    <>
      {spans.map((s, i) => (
        <span
          key={i}
          style={{
            color: s.color,
            background: s.background,
            fontWeight: s.bold ? 700 : undefined,
            fontStyle: s.italic ? 'italic' : undefined,
            textDecoration: s.underline ? 'underline' : undefined,
            opacity: s.dim ? 0.7 : undefined,
          }}
        >
          {s.text}
        </span>
      ))}
    </>
  );
}

/**
 * A job's console: ANSI colours, only the visible rows in the DOM (a million-line log scrolls like a short one),
 * following the end while new lines arrive unless the user scrolled up to read. When the server skipped lines
 * this page read too slowly for, a note says how many and offers to read the stored log again.
 */
export function JobConsole({
  job,
  version,
  name,
  running,
  onReload,
}: {
  job: JobLive;
  /** Changes whenever the log does. */
  version: number;
  name: string;
  running: boolean;
  /** Reads the stored log again (it has the lines the live connection skipped). */
  onReload?: () => void;
}) {
  const scroller = useRef<HTMLDivElement>(null);
  const [follow, setFollow] = useState(true);
  const [filter, setFilter] = useState('');
  const all = job.log.toArray();
  const lines = useMemo(() => {
    if (!filter) return all;
    const f = filter.toLowerCase();
    return all.filter((l) => l.text.toLowerCase().includes(f));
    // `all` is the same array mutated in place; `version` says when it changed.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [all, version, filter]);
  const virtualizer = useVirtualizer({
    count: lines.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW,
    overscan: 30,
  });

  useLayoutEffect(() => {
    if (follow && lines.length > 0) virtualizer.scrollToIndex(lines.length - 1, { align: 'end' });
  }, [version, lines.length, follow, virtualizer]);

  useEffect(() => setFollow(true), [job]);

  const onScroll = (): void => {
    const el = scroller.current;
    if (!el) return;
    const atEnd = el.scrollHeight - el.scrollTop - el.clientHeight < ROW * 2;
    if (atEnd !== follow) setFollow(atEnd);
  };

  const download = (): void => {
    const blob = new Blob([all.map((l) => l.text).join('\n') + '\n'], { type: 'text/plain' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${name}.log`;
    a.click();
    URL.revokeObjectURL(a.href);
  };

  const bars = [...job.progress.values()].filter((p) => !p.done);

  return (
    <Box style={{ display: 'flex', flexDirection: 'column', height: '100%' }} data-testid="job-console">
      <Group px="xs" py={4} gap="xs" style={{ flex: '0 0 auto' }}>
        <TextInput
          size="xs"
          placeholder="Filter lines"
          leftSection={<IconSearch size={12} />}
          value={filter}
          onChange={(e) => setFilter(e.currentTarget.value)}
          w={200}
          aria-label="Filter console lines"
          data-testid="console-filter"
        />
        <Text size="xs" c="dimmed" data-testid="console-count">
          {filter
            ? `${lines.length.toLocaleString()} of ${plural(all.length, 'line')}`
            : plural(all.length, 'line')}
          {job.log.dropped > 0 && ` (${job.log.dropped} older not kept: download the execution for all)`}
        </Text>
        <Group gap={4} ml="auto">
          {!follow && (
            <Button
              size="compact-xs"
              variant="light"
              leftSection={<IconArrowBarToDown size={12} />}
              onClick={() => setFollow(true)}
              data-testid="console-follow"
            >
              Follow
            </Button>
          )}
          <Tooltip label="Download what is shown">
            <ActionIcon size="sm" onClick={download} aria-label="Download console">
              <IconDownload size={14} />
            </ActionIcon>
          </Tooltip>
        </Group>
      </Group>
      {bars.map((p) => (
        <Group
          key={p.bar}
          px="xs"
          gap="xs"
          wrap="nowrap"
          style={{ flex: '0 0 auto' }}
          data-testid="job-progress"
        >
          <Text size="xs" w={140} truncate>
            {p.desc ?? p.bar}
          </Text>
          <Progress
            value={p.total ? (p.n / p.total) * 100 : 100}
            animated={!p.total}
            className="df-fill"
            size="sm"
          />
          <Text size="xs" c="dimmed" w={150} ta="right">
            {p.total ? `${p.n}/${p.total}` : p.n} {p.unit ?? ''}
            {p.rate ? ` · ${p.rate.toFixed(1)}/s` : ''}
          </Text>
        </Group>
      ))}
      {job.skippedLines > 0 && (
        <Group px="xs" gap="xs" style={{ flex: '0 0 auto' }} data-testid="console-skipped">
          <Text size="xs" c="yellow">
            {plural(job.skippedLines, 'line')} skipped live: the connection could not keep up.
          </Text>
          {onReload && (
            <Button
              size="compact-xs"
              variant="light"
              leftSection={<IconRefresh size={12} />}
              onClick={onReload}
              data-testid="console-reload"
            >
              Reload the log
            </Button>
          )}
        </Group>
      )}
      {job.truncatedBytes > 0 && (
        <Text size="xs" c="dimmed" px="xs" style={{ flex: '0 0 auto' }}>
          The first {formatBytes(job.truncatedBytes)} of this log are not shown: download the execution for
          all of it.
        </Text>
      )}
      <div
        ref={scroller}
        onScroll={onScroll}
        className="df-console df-fill"
        style={{ overflow: 'auto', position: 'relative' }}
        tabIndex={0}
        role="log"
        aria-label={`Console of ${name}`}
        aria-live="off"
      >
        {job.logState === 'loading' && all.length === 0 && <div className="df-console-line">loading…</div>}
        {job.logState === 'error' && (
          <div className="df-console-line">could not load the log: {job.logError}</div>
        )}
        {job.logState === 'ready' && all.length === 0 && (
          <div className="df-console-line" style={{ opacity: 0.6 }}>
            {running ? 'waiting for output…' : 'no output'}
          </div>
        )}
        <div style={{ height: virtualizer.getTotalSize(), width: '100%', position: 'relative' }}>
          {virtualizer.getVirtualItems().map((v) => {
            const line = lines[v.index] as LogLine;
            return (
              <div
                key={line.n}
                className="df-console-line"
                data-stream={line.stream}
                style={{
                  position: 'absolute',
                  top: 0,
                  left: 0,
                  right: 0,
                  transform: `translateY(${v.start}px)`,
                }}
              >
                <Line line={line} />
              </div>
            );
          })}
        </div>
      </div>
    </Box>
  );
}

function plural(n: number, word: string): string {
  return `${n.toLocaleString()} ${word}${n === 1 ? '' : 's'}`;
}

import { Readable } from 'node:stream';
import type { Engine, MetricView } from '@deepforge/engine';
import { encodeFloat64, type MetricViewResponse } from '@deepforge/protocol';

/** A view as it goes out: its number arrays as f64le-base64 (ADR 0014). */
export function metricViewDto(view: MetricView, width: number): MetricViewResponse {
  const c = view.columns;
  return {
    name: view.name,
    count: view.count,
    from: view.from,
    to: view.to,
    width,
    inRange: view.inRange,
    encoding: 'f64le-base64',
    ...(view.exact ? { points: { x: encodeFloat64(view.exact.x), y: encodeFloat64(view.exact.y) } } : {}),
    ...(c
      ? {
          columns: {
            n: encodeFloat64(c.n),
            firstX: encodeFloat64(c.firstX),
            firstY: encodeFloat64(c.firstY),
            lastX: encodeFloat64(c.lastX),
            lastY: encodeFloat64(c.lastY),
            minY: encodeFloat64(c.minY),
            maxY: encodeFloat64(c.maxY),
          },
        }
      : {}),
    ...(view.columnSize !== undefined ? { columnSize: view.columnSize } : {}),
    partial: view.partial,
  };
}

/** A CSV field: quoted when it holds a comma, a quote or a line break (RFC 4180). */
function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * Every point of the series `names`, one after the other in the order logged, as CSV (`name,step,value,t`) or JSON
 * lines (`{"name","step","value","t"}`). Read page by page (one bounded query each) as the client takes them, so
 * nothing holds the whole series and the server's thread is never held long. `step` is where the point is drawn:
 * the step logged, or the previous step + 1 for a value logged without one; `t` is milliseconds since the epoch.
 */
export function metricDownload(
  engine: Engine,
  executionId: string,
  node: string,
  names: readonly string[],
  format: 'csv' | 'jsonl',
): Readable {
  async function* lines(): AsyncGenerator<string> {
    if (format === 'csv') yield 'name,step,value,t\n';
    for (const name of names) {
      const quoted = format === 'csv' ? csvField(name) : JSON.stringify(name);
      for await (const page of engine.readMetricPoints(executionId, node, name)) {
        let text = '';
        for (const p of page) {
          text +=
            format === 'csv'
              ? `${quoted},${p.x},${p.value},${p.t}\n`
              : `{"name":${quoted},"step":${p.x},"value":${p.value},"t":${p.t}}\n`;
        }
        yield text;
      }
    }
  }
  return Readable.from(lines(), { objectMode: false });
}

/**
 * GET …/metrics (every value as `{items: [{step, name, value, t}]}`, `step` as logged), written page by page as
 * the client takes it: series by series in the order first logged, each in the order logged. Building a million
 * points in memory and serializing them at once held the server for seconds.
 */
export function metricListStream(
  engine: Engine,
  executionId: string,
  node: string,
  names: readonly string[],
): Readable {
  async function* chunks(): AsyncGenerator<string> {
    yield '{"items":[';
    let first = true;
    for (const name of names) {
      const quoted = JSON.stringify(name);
      for await (const page of engine.readMetricPoints(executionId, node, name)) {
        let text = '';
        for (const p of page) {
          text += `${first ? '' : ','}{"step":${p.step === null ? 'null' : p.step},"name":${quoted},"value":${p.value},"t":${p.t}}`;
          first = false;
        }
        yield text;
      }
    }
    yield ']}';
  }
  return Readable.from(chunks(), { objectMode: false });
}

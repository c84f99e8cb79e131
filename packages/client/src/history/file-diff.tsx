import { assertNever, formatDiffValue } from '@deepforge/core';
import type { DiffLine, FileDiff, GraphDiff, LineDiff, ValueChange } from '@deepforge/core';

/**
 * One file's diff, as core computed it: a line diff as added and removed lines with both line numbers, a pipeline
 * or architecture as the nodes, attributes and connections that changed. Plain elements with `df-diff-*` classes
 * (app.css), so it renders the same anywhere, tests included.
 */
export function FileDiffView({ diff }: { diff: FileDiff }) {
  switch (diff.type) {
    case 'lines':
      return <LineDiffView diff={diff} />;
    case 'pipeline':
    case 'architecture':
      return <GraphDiffView diff={diff} />;
    case 'unchanged':
      return <p className="df-diff-note">No change in this file.</p>;
    case 'too-large':
      return (
        <p className="df-diff-note" data-testid="diff-too-large">
          This file is {diff.message}.
        </p>
      );
    case 'binary':
      return <p className="df-diff-note">Binary file: no text to compare.</p>;
    default:
      return assertNever(diff);
  }
}

const SIGN: Record<DiffLine['kind'], string> = { added: '+', removed: '−', context: ' ' };

function LineDiffView({ diff }: { diff: LineDiff }) {
  return (
    <div data-testid="line-diff">
      {diff.note && <p className="df-diff-note">{capitalise(diff.note)}.</p>}
      <table className="df-diff-lines">
        {diff.hunks.map((h) => (
          <tbody key={`${h.oldStart}-${h.newStart}`}>
            <tr className="df-diff-hunk">
              <td colSpan={4}>
                @@ −{h.oldStart},{h.oldLines} +{h.newStart},{h.newLines} @@
              </td>
            </tr>
            {h.lines.map((l, i) => (
              <tr key={i} className={`df-diff-${l.kind}`} data-kind={l.kind}>
                <td className="df-diff-num">{l.oldLine ?? ''}</td>
                <td className="df-diff-num">{l.newLine ?? ''}</td>
                <td className="df-diff-sign" aria-label={l.kind === 'context' ? undefined : l.kind}>
                  {SIGN[l.kind]}
                </td>
                <td className="df-diff-text">{l.text}</td>
              </tr>
            ))}
          </tbody>
        ))}
      </table>
    </div>
  );
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function ValueChangeText({ change }: { change: ValueChange }) {
  if (!('before' in change)) {
    return (
      <>
        <code>{change.name}</code> set to <code className="df-diff-new">{formatDiffValue(change.after)}</code>
      </>
    );
  }
  if (!('after' in change)) {
    return (
      <>
        <code>{change.name}</code> removed (was{' '}
        <code className="df-diff-old">{formatDiffValue(change.before)}</code>)
      </>
    );
  }
  return (
    <>
      <code>{change.name}</code> <code className="df-diff-old">{formatDiffValue(change.before)}</code> →{' '}
      <code className="df-diff-new">{formatDiffValue(change.after)}</code>
    </>
  );
}

function GraphDiffView({ diff }: { diff: GraphDiff }) {
  const node = diff.type === 'pipeline' ? 'Node' : 'Layer';
  const link = diff.type === 'pipeline' ? 'Connection' : 'Edge';
  const empty =
    diff.fields.length +
      diff.added.length +
      diff.removed.length +
      diff.changed.length +
      diff.connectionsAdded.length +
      diff.connectionsRemoved.length ===
    0;
  return (
    <ul className="df-diff-graph" data-testid="graph-diff" data-kind={diff.type}>
      {empty && (
        <li className="df-diff-note">
          {diff.whole ? `An empty ${diff.type} ${diff.whole}.` : 'Only the formatting of the file changed.'}
        </li>
      )}
      {diff.fields.map((f) => (
        <li key={`field-${f.name}`} data-change="field">
          <ValueChangeText change={f} />
        </li>
      ))}
      {diff.added.map((n) => (
        <li key={`add-${n.id}`} className="df-diff-added" data-change="added">
          {node} <strong>{n.id}</strong> ({n.type}) added
        </li>
      ))}
      {diff.removed.map((n) => (
        <li key={`rm-${n.id}`} className="df-diff-removed" data-change="removed">
          {node} <strong>{n.id}</strong> ({n.type}) removed
        </li>
      ))}
      {diff.changed.map((n) => (
        <li key={`chg-${n.id}`} data-change="changed">
          {node} <strong>{n.id}</strong> ({n.type})
          {n.renamedFrom !== undefined && (
            <>
              {' '}
              renamed from <strong>{n.renamedFrom}</strong>
            </>
          )}
          {n.moved && ' moved'}
          {n.changes.length > 0 && (
            <ul>
              {n.changes.map((c) => (
                <li key={c.name}>
                  <ValueChangeText change={c} />
                </li>
              ))}
            </ul>
          )}
        </li>
      ))}
      {diff.connectionsAdded.map((c) => (
        <li key={`cadd-${c}`} className="df-diff-added" data-change="connection-added">
          {link} <code>{c}</code> added
        </li>
      ))}
      {diff.connectionsRemoved.map((c) => (
        <li key={`crm-${c}`} className="df-diff-removed" data-change="connection-removed">
          {link} <code>{c}</code> removed
        </li>
      ))}
    </ul>
  );
}

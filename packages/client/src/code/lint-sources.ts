import type { Diagnostic } from '@codemirror/lint';
import { setDiagnostics } from '@codemirror/lint';
import { StateEffect, StateField } from '@codemirror/state';
import type { EditorView } from '@codemirror/view';

/**
 * Where an editor's diagnostics come from: the editor's own checks (the operation interface, Python syntax) and
 * the language server. @codemirror/lint holds one list and `setDiagnostics` replaces it whole, so each source's
 * latest list is kept here and the union is what the lint shows.
 */
export type LintSource = 'own' | 'server';

type Sources = Readonly<Record<LintSource, readonly Diagnostic[]>>;

const setSource = StateEffect.define<{ source: LintSource; diagnostics: readonly Diagnostic[] }>();

const sourcesField = StateField.define<Sources>({
  create: () => ({ own: [], server: [] }),
  update(value, tr) {
    for (const e of tr.effects)
      if (e.is(setSource)) value = { ...value, [e.value.source]: e.value.diagnostics };
    return value;
  },
});

/** The extension that keeps the sources; editors that use setLintSource need it. */
export const lintSources = sourcesField;

/** Replaces one source's diagnostics; the editor then shows them with the other source's. */
export function setLintSource(
  view: EditorView,
  source: LintSource,
  diagnostics: readonly Diagnostic[],
): void {
  const current = view.state.field(sourcesField, false) ?? { own: [], server: [] };
  const next = { ...current, [source]: diagnostics };
  const length = view.state.doc.length;
  // The other source's positions may predate edits since: clamped, never past the end of the text.
  const all = [...next.own, ...next.server].map((d) => {
    const from = Math.min(d.from, length);
    return { ...d, from, to: Math.min(Math.max(d.to, from), length) };
  });
  const spec = setDiagnostics(view.state, all);
  const effects =
    spec.effects === undefined ? [] : Array.isArray(spec.effects) ? spec.effects : [spec.effects];
  view.dispatch({ effects: [...effects, setSource.of({ source, diagnostics })] });
}

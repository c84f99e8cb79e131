import { python } from '@codemirror/lang-python';
import { defaultHighlightStyle, foldGutter, syntaxHighlighting } from '@codemirror/language';
import { highlightSelectionMatches, searchKeymap } from '@codemirror/search';
import { Compartment, EditorState } from '@codemirror/state';
import { oneDark } from '@codemirror/theme-one-dark';
import { EditorView, keymap, lineNumbers } from '@codemirror/view';
import { useComputedColorScheme } from '@mantine/core';
import { useEffect, useRef } from 'react';

/**
 * Read-only Python in CodeMirror, for text the app generates (an architecture's module): the same highlighting
 * and search as the code editor, no typing. A new `value` replaces the changed span in place, once the browser is idle.
 */
export function CodeView({
  value,
  ariaLabel,
  testId,
}: {
  value: string;
  ariaLabel: string;
  testId?: string;
}) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const theme = useRef(new Compartment());
  const scheme = useComputedColorScheme('light');
  const initial = useRef({ value, scheme });

  useEffect(() => {
    if (!host.current) return;
    const v = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: initial.current.value,
        extensions: [
          lineNumbers(),
          foldGutter(),
          syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
          highlightSelectionMatches(),
          keymap.of(searchKeymap),
          python(),
          EditorState.readOnly.of(true),
          EditorView.editable.of(false),
          EditorView.contentAttributes.of({ 'aria-label': ariaLabel, 'aria-readonly': 'true' }),
          theme.current.of(initial.current.scheme === 'dark' ? oneDark : []),
        ],
      }),
    });
    view.current = v;
    return () => {
      v.destroy();
      view.current = null;
    };
  }, [ariaLabel]);

  useEffect(() => {
    // When the browser is idle: re-parsing and re-highlighting is the costliest part of an edit here, and what
    // the user waits for first is the graph (and its shapes), not the code beside it.
    const apply = (): void => {
      const v = view.current;
      if (!v) return;
      const old = v.state.doc.toString();
      if (old === value) return;
      // Only the part that changed: the rest keeps its highlighting, and the view does not jump.
      let start = 0;
      while (start < old.length && start < value.length && old[start] === value[start]) start++;
      let end = 0;
      while (
        end < old.length - start &&
        end < value.length - start &&
        old[old.length - 1 - end] === value[value.length - 1 - end]
      )
        end++;
      v.dispatch({
        changes: { from: start, to: old.length - end, insert: value.slice(start, value.length - end) },
      });
    };
    const id = requestIdleCallback(apply, { timeout: 500 });
    return () => cancelIdleCallback(id);
  }, [value]);

  useEffect(() => {
    view.current?.dispatch({ effects: theme.current.reconfigure(scheme === 'dark' ? oneDark : []) });
  }, [scheme]);

  return <div ref={host} className="df-code" data-testid={testId} data-readonly />;
}

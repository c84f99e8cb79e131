import {
  autocompletion,
  closeBrackets,
  closeBracketsKeymap,
  completionKeymap,
} from '@codemirror/autocomplete';
import { defaultKeymap, indentWithTab } from '@codemirror/commands';
import { python } from '@codemirror/lang-python';
import { yaml } from '@codemirror/lang-yaml';
import {
  bracketMatching,
  defaultHighlightStyle,
  foldGutter,
  foldKeymap,
  indentOnInput,
  indentUnit,
  syntaxHighlighting,
} from '@codemirror/language';
import type { Diagnostic as CmDiagnostic } from '@codemirror/lint';
import { lintGutter, lintKeymap } from '@codemirror/lint';
import { highlightSelectionMatches, searchKeymap } from '@codemirror/search';
import type { Extension } from '@codemirror/state';
import { Compartment, EditorState } from '@codemirror/state';
import { oneDark } from '@codemirror/theme-one-dark';
import {
  crosshairCursor,
  drawSelection,
  dropCursor,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
  rectangularSelection,
} from '@codemirror/view';
import { useComputedColorScheme } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useEffect, useRef } from 'react';
import { useNavigate } from 'react-router';
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next';
import * as Y from 'yjs';
import type { LintDiagnostic } from '../lib/operation-sync.js';
import { lintSources, setLintSource } from './lint-sources.js';
import { projectFileRoute, type DefinitionTarget } from './lsp-locations.js';
import { pythonLanguageServer } from './python-lsp.js';

export interface CodeEditorProps {
  /** The document text this editor shows and edits; everyone with the project open edits the same one. */
  ytext: Y.Text;
  /** Hocuspocus awareness: remote cursors and selections with their owners' names. */
  awareness: unknown;
  language: 'python' | 'yaml';
  diagnostics?: readonly LintDiagnostic[];
  onView?: (view: EditorView | null) => void;
  ariaLabel: string;
  testId?: string;
  /** Shows the text and others' edits but takes no typing (readers: the server would drop their edits). */
  readOnly?: boolean;
  /**
   * The project's Python language server for this file (completion, hover, signature help, definitions,
   * diagnostics); `path` is the file's path in the project, `operations/Train.py`.
   */
  languageServer?: { projectId: string; path: string };
}

function readOnlyExtensions(readOnly: boolean): Extension[] {
  return readOnly
    ? [
        EditorState.readOnly.of(true),
        EditorView.editable.of(false),
        EditorView.contentAttributes.of({ 'aria-readonly': 'true' }),
      ]
    : [];
}

function baseExtensions(): Extension[] {
  return [
    lineNumbers(),
    highlightActiveLineGutter(),
    highlightSpecialChars(),
    foldGutter(),
    drawSelection(),
    dropCursor(),
    EditorState.allowMultipleSelections.of(true),
    indentOnInput(),
    indentUnit.of('    '),
    syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
    bracketMatching(),
    closeBrackets(),
    autocompletion(),
    rectangularSelection(),
    crosshairCursor(),
    highlightActiveLine(),
    highlightSelectionMatches(),
    lintGutter(),
    keymap.of([
      ...yUndoManagerKeymap,
      ...closeBracketsKeymap,
      ...defaultKeymap,
      ...searchKeymap,
      ...foldKeymap,
      ...completionKeymap,
      ...lintKeymap,
      indentWithTab,
    ]),
  ];
}

/**
 * CodeMirror 6 bound to a Y.Text of the project document (y-codemirror.next): typing here is typing into the
 * shared document, with the other collaborators' cursors drawn in place. Undo only undoes this user's edits.
 */
export function CodeEditor({
  ytext,
  awareness,
  language,
  diagnostics,
  onView,
  ariaLabel,
  testId,
  readOnly = false,
  languageServer,
}: CodeEditorProps) {
  const navigate = useNavigate();
  const navigateRef = useRef(navigate);
  navigateRef.current = navigate;
  const lspProject = languageServer?.projectId;
  const lspPath = languageServer?.path;
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const theme = useRef(new Compartment());
  const access = useRef(new Compartment());
  const readOnlyRef = useRef(readOnly);
  readOnlyRef.current = readOnly;
  const scheme = useComputedColorScheme('light');
  const schemeRef = useRef(scheme);
  schemeRef.current = scheme;
  const onViewRef = useRef(onView);
  onViewRef.current = onView;

  useEffect(() => {
    if (!host.current) return;
    const undoManager = new Y.UndoManager(ytext);
    const onDefinition = (target: DefinitionTarget): void => {
      if (target.kind === 'project') {
        const to =
          lspProject === undefined ? undefined : projectFileRoute(lspProject, target.path, target.line);
        if (to !== undefined) void navigateRef.current(to);
        return;
      }
      // Outside the project (torch, numpy): where it is, not its source (docs/adr/0022).
      notifications.show({
        title: 'Defined outside the project',
        message: `${target.file}, line ${target.line}`,
        autoClose: 8000,
      });
    };
    const lsp =
      lspProject !== undefined && lspPath !== undefined && language === 'python'
        ? pythonLanguageServer({ projectId: lspProject, path: lspPath, onDefinition })
        : undefined;
    const v = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: ytext.toString(),
        extensions: [
          ...baseExtensions(),
          language === 'python' ? python() : yaml(),
          theme.current.of(schemeRef.current === 'dark' ? oneDark : []),
          access.current.of(readOnlyExtensions(readOnlyRef.current)),
          EditorView.contentAttributes.of({ 'aria-label': ariaLabel }),
          yCollab(ytext, awareness, { undoManager }),
          lintSources,
          lsp?.extension ?? [],
        ],
      }),
    });
    view.current = v;
    onViewRef.current?.(v);
    return () => {
      onViewRef.current?.(null);
      v.destroy();
      lsp?.release();
      undoManager.destroy();
      view.current = null;
    };
  }, [ytext, awareness, language, ariaLabel, lspProject, lspPath]);

  useEffect(() => {
    view.current?.dispatch({ effects: theme.current.reconfigure(scheme === 'dark' ? oneDark : []) });
  }, [scheme]);

  useEffect(() => {
    view.current?.dispatch({ effects: access.current.reconfigure(readOnlyExtensions(readOnly)) });
  }, [readOnly]);

  useEffect(() => {
    const v = view.current;
    if (!v || !diagnostics) return;
    const length = v.state.doc.length;
    const cm: CmDiagnostic[] = diagnostics.map((d) => ({
      from: Math.min(d.from, length),
      to: Math.min(Math.max(d.to, d.from), length),
      severity: d.severity,
      message: d.message,
    }));
    setLintSource(v, 'own', cm);
  }, [diagnostics]);

  return <div ref={host} className="df-code" data-testid={testId} data-readonly={readOnly || undefined} />;
}

/** Moves the cursor to a 1-based line (and column) and scrolls it into view. */
export function revealLine(view: EditorView, line: number, column = 1): void {
  const l = view.state.doc.line(Math.min(Math.max(1, line), view.state.doc.lines));
  const pos = Math.min(l.from + Math.max(0, column - 1), l.to);
  view.dispatch({ selection: { anchor: pos }, effects: EditorView.scrollIntoView(pos, { y: 'center' }) });
  view.focus();
}

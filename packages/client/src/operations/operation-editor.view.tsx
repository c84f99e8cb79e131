import { deleteOperation, operationUses, renameOperation, replaceText } from '@deepforge/protocol';
import {
  ActionIcon,
  Badge,
  Box,
  Center,
  Group,
  Menu,
  ScrollArea,
  Stack,
  Tabs,
  Text,
  Tooltip,
} from '@mantine/core';
import { modals } from '@mantine/modals';
import { notifications } from '@mantine/notifications';
import { IconAlertTriangle, IconArrowLeft, IconDots, IconPencil, IconTrash } from '@tabler/icons-react';
import type { EditorView } from '@codemirror/view';
import { useMemo, useRef, useState } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router';
import { CodeEditor, revealLine } from '../code/code-editor.js';
import { useDebouncedYText } from '../code/use-ytext.js';
import { operationNames, operationYText, parseOperation } from '../collab/doc-read.js';
import { useProjectAccess } from '../auth/project-access.context.js';
import { localEdit } from '../collab/local-edit.js';
import { useDocSelector, useProjectDoc } from '../collab/project-doc.context.js';
import { identifierNameProblem } from '../lib/names.js';
import type { InterfaceEdit } from '../lib/operation-sync.js';
import { applyInterfaceEdit, toLintDiagnostics, unusedInputs } from '../lib/operation-sync.js';
import { NamePrompt } from '../shell/name-prompt.js';
import { ViewCrumb, ViewToolbar } from '../shell/project-layout.js';
import { EnvironmentPanel } from './environment-panel.js';
import { InterfacePanel } from './interface-panel.js';

export function OperationEditorView() {
  const { projectId = '', operation = '' } = useParams();
  const exists = useDocSelector((d) => operationNames(d).includes(operation), [operation]);
  if (!exists) {
    return (
      <Center h="100%" data-testid="operation-not-found">
        <Stack align="center" gap={4}>
          <Text fw={600}>There is no operation “{operation}”</Text>
          <Text size="sm" c="dimmed">
            It may have been renamed or deleted.{' '}
            <Link to={`/projects/${projectId}/pipelines`}>Pipelines</Link>
          </Text>
        </Stack>
      </Center>
    );
  }
  return <OperationEditor key={operation} projectId={projectId} name={operation} />;
}

/**
 * The operation editor: the Python code (co-edited) and the interface it defines, kept in step both ways —
 * editing the interface rewrites the code, editing the code re-reads the interface.
 */
function OperationEditor({ projectId, name }: { projectId: string; name: string }) {
  const { doc, provider } = useProjectDoc();
  const navigate = useNavigate();
  const [search] = useSearchParams();
  const from = search.get('from');
  // Opened from an execution's error (a traceback link): the way back goes to that error.
  const fromExecution = search.get('execution');
  const fromNode = search.get('node');
  // The Y.Text objects are replaced when the operation is renamed or re-created: follow them.
  const texts = useDocSelector(
    (d) => operationYText(d, name),
    [name],
    (a, b) => a?.code === b?.code && a?.dependencies === b?.dependencies,
  );
  const code = useDebouncedYText(texts?.code ?? null, 250);
  const parsed = useMemo(() => parseOperation(name, code), [name, code]);
  const unused = useMemo(
    () => (parsed.interface ? unusedInputs(code, parsed.interface) : []),
    [code, parsed],
  );
  const lint = useMemo(() => {
    const unusedDiagnostics = (parsed.interface?.inputs ?? [])
      .filter((p) => unused.includes(p.name) && p.range)
      .map((p) => ({
        severity: 'warning' as const,
        code: 'unused-input',
        message: `input "${p.name}" is never used in execute`,
        line: p.range?.line,
        column: p.range?.column,
      }));
    return toLintDiagnostics(code, [...parsed.diagnostics, ...unusedDiagnostics]);
  }, [code, parsed, unused]);
  const uses = useDocSelector((d) => operationUses(d, name), [name]);
  const allNames = useDocSelector((d) => operationNames(d), []);
  const view = useRef<EditorView | null>(null);
  const [renaming, setRenaming] = useState(false);
  const { canEdit } = useProjectAccess();
  const errors = parsed.diagnostics.filter((d) => d.severity === 'error');

  const onEdit = (edit: InterfaceEdit): boolean => {
    if (!texts || !canEdit) return false;
    // Edit the text as it is now (not the debounced copy): nothing typed in the meantime is lost.
    const result = applyInterfaceEdit(texts.code.toString(), edit, name);
    if ('error' in result) {
      notifications.show({ color: 'red', title: 'Cannot change the interface', message: result.error });
      return false;
    }
    replaceText(texts.code, result.code);
    return true;
  };

  const rename = (to: string): void => {
    const current = texts?.code.toString() ?? '';
    const renamed = current.replace(new RegExp(`^(\\s*class\\s+)${name}\\b`, 'm'), `$1${to}`);
    localEdit(doc, () => renameOperation(doc, name, to, renamed));
    void navigate(
      `/projects/${projectId}/operations/${to}${from ? `?from=${encodeURIComponent(from)}` : ''}`,
      {
        replace: true,
      },
    );
  };

  const remove = (): void => {
    modals.openConfirmModal({
      title: `Delete operation ${name}?`,
      children: (
        <Text size="sm">
          {uses.length > 0
            ? `Used by ${uses.map((u) => `${u.pipeline}/${u.node}`).join(', ')}: those nodes will show an error.`
            : 'No pipeline uses it.'}
        </Text>
      ),
      labels: { confirm: 'Delete', cancel: 'Cancel' },
      confirmProps: { color: 'red', 'data-testid': 'confirm-delete-operation' },
      onConfirm: () => {
        localEdit(doc, () => deleteOperation(doc, name));
        void navigate(`/projects/${projectId}/pipelines`);
      },
    });
  };

  return (
    <Box style={{ display: 'flex', flexDirection: 'column', height: '100%' }}>
      <ViewToolbar
        testId="operation-toolbar"
        title={
          <Group gap={6} wrap="nowrap">
            {fromExecution ? (
              <Tooltip label="Back to the execution">
                <ActionIcon
                  component={Link}
                  to={`/projects/${projectId}/executions/${encodeURIComponent(fromExecution)}${fromNode ? `?node=${encodeURIComponent(fromNode)}&tab=error` : ''}`}
                  aria-label="Back to the execution"
                  data-testid="back-to-execution"
                >
                  <IconArrowLeft size={16} />
                </ActionIcon>
              </Tooltip>
            ) : from ? (
              <Tooltip label={`Back to ${from}`}>
                <ActionIcon
                  component={Link}
                  to={`/projects/${projectId}/pipelines/${encodeURIComponent(from)}`}
                  aria-label={`Back to pipeline ${from}`}
                  data-testid="back-to-pipeline"
                >
                  <IconArrowLeft size={16} />
                </ActionIcon>
              </Tooltip>
            ) : null}
            <ViewCrumb
              parent="Operations"
              to={`/projects/${projectId}/pipelines`}
              name={name}
              testId="operation-title"
              mono
            />
            {errors.length > 0 ? (
              <Badge color="red" variant="light" data-testid="operation-status" data-errors={errors.length}>
                {errors.length} error{errors.length === 1 ? '' : 's'}
              </Badge>
            ) : (
              <Badge color="green" variant="light" data-testid="operation-status" data-errors={0}>
                ok
              </Badge>
            )}
            {unused.length > 0 && (
              <Tooltip label={`Never used in execute: ${unused.join(', ')}`}>
                <Badge
                  color="orange"
                  variant="light"
                  leftSection={<IconAlertTriangle size={12} />}
                  data-testid="unused-inputs"
                >
                  {unused.length} unused input{unused.length === 1 ? '' : 's'}
                </Badge>
              </Tooltip>
            )}
          </Group>
        }
      >
        <Text size="xs" c="dimmed">
          {uses.length === 0
            ? 'not used by any pipeline'
            : `used by ${uses.length} node${uses.length === 1 ? '' : 's'}`}
        </Text>
        {canEdit && (
          <Menu position="bottom-end">
            <Menu.Target>
              <ActionIcon aria-label="Operation actions" data-testid="operation-actions">
                <IconDots size={16} />
              </ActionIcon>
            </Menu.Target>
            <Menu.Dropdown>
              <Menu.Item leftSection={<IconPencil size={14} />} onClick={() => setRenaming(true)}>
                Rename…
              </Menu.Item>
              <Menu.Item color="red" leftSection={<IconTrash size={14} />} onClick={remove}>
                Delete…
              </Menu.Item>
            </Menu.Dropdown>
          </Menu>
        )}
      </ViewToolbar>
      <Box className="df-fill" style={{ display: 'flex' }}>
        <Box className="df-fill" style={{ borderRight: '1px solid var(--mantine-color-default-border)' }}>
          {texts && (
            <CodeEditor
              ytext={texts.code}
              awareness={provider.awareness}
              language="python"
              diagnostics={lint}
              onView={(v) => {
                view.current = v;
                // Opened from an error's location (…/operations/X?line=12): show that line.
                const line = Number(search.get('line'));
                if (v && Number.isInteger(line) && line > 0) setTimeout(() => revealLine(v, line), 0);
              }}
              ariaLabel={`Code of ${name}`}
              languageServer={{ projectId, path: `operations/${name}.py` }}
              testId="operation-code"
              readOnly={!canEdit}
            />
          )}
        </Box>
        <Box style={{ width: 400, display: 'flex', flexDirection: 'column' }}>
          <Tabs
            defaultValue="interface"
            style={{ display: 'flex', flexDirection: 'column', height: '100%' }}
            keepMounted={false}
          >
            <Tabs.List>
              <Tabs.Tab value="interface" data-testid="tab-interface">
                Interface
              </Tabs.Tab>
              <Tabs.Tab value="dependencies" data-testid="tab-dependencies">
                Environment
              </Tabs.Tab>
            </Tabs.List>
            <Tabs.Panel value="interface" className="df-fill" style={{ overflow: 'hidden' }}>
              <ScrollArea h="100%">
                <InterfacePanel
                  iface={parsed.interface}
                  unused={unused}
                  diagnostics={parsed.diagnostics}
                  onEdit={onEdit}
                  readOnly={!canEdit}
                  onReveal={(line, column) => view.current && revealLine(view.current, line, column)}
                />
                <Text size="xs" c="dimmed" px="md" pb="md">
                  The interface is read from the code: <code>__init__</code> arguments with a default are
                  attributes, those without are references; <code>execute</code>&apos;s arguments are inputs;
                  the names it returns are outputs.
                </Text>
              </ScrollArea>
            </Tabs.Panel>
            <Tabs.Panel
              value="dependencies"
              className="df-fill"
              style={{ display: 'flex', flexDirection: 'column' }}
            >
              {texts && (
                <EnvironmentPanel
                  ytext={texts.dependencies}
                  awareness={provider.awareness}
                  name={name}
                  readOnly={!canEdit}
                />
              )}
            </Tabs.Panel>
          </Tabs>
        </Box>
      </Box>
      {renaming && (
        <NamePrompt
          title={`Rename ${name}`}
          label="New class name"
          initial={name}
          confirm="Rename"
          description="Renames the class in the code and every pipeline node that uses it."
          validate={(n) => (n === name ? 'that is its name now' : identifierNameProblem(n, allNames))}
          onClose={() => setRenaming(false)}
          onSubmit={rename}
          testId="rename-operation-modal"
        />
      )}
    </Box>
  );
}

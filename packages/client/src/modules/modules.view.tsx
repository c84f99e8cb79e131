import { deleteModule, putModule } from '@deepforge/protocol';
import {
  ActionIcon,
  Badge,
  Box,
  Button,
  Center,
  Group,
  NavLink,
  ScrollArea,
  Stack,
  Text,
  Tooltip,
} from '@mantine/core';
import { useHotkeys } from '@mantine/hooks';
import { modals } from '@mantine/modals';
import { IconFileCode, IconPlus, IconTrash } from '@tabler/icons-react';
import { useEffect, useMemo, useState } from 'react';
import { Link, Navigate, useNavigate, useParams, useSearchParams } from 'react-router';
import { CodeEditor, revealLine } from '../code/code-editor.js';
import { useDebouncedYText } from '../code/use-ytext.js';
import { moduleNames, moduleYText } from '../collab/doc-read.js';
import { useProjectAccess } from '../auth/project-access.context.js';
import { useDocSelector, useProjectDoc } from '../collab/project-doc.context.js';
import { identifierNameProblem } from '../lib/names.js';
import { toLintDiagnostics } from '../lib/operation-sync.js';
import { pythonSyntaxDiagnostics } from '../lib/python-syntax.js';
import { SAVE_STATE_LABEL, saveState } from '../lib/save-state.js';
import { NamePrompt } from '../shell/name-prompt.js';
import { ViewToolbar } from '../shell/project-layout.js';
import { serializerTemplate, utilTemplate } from './module-templates.js';

type Kind = 'utils' | 'serializers';

const TEXT: Record<Kind, { title: string; item: string; empty: string; hint: (n: string) => string }> = {
  utils: {
    title: 'Custom Utils',
    item: 'module',
    empty: 'Utility modules hold code shared by operations.',
    hint: (n) => `import utils.${n}`,
  },
  serializers: {
    title: 'Custom Serialization',
    item: 'serializer',
    empty:
      'A serializer tells DeepForge how to save and load values that pickle cannot: define dump and load, then register them with deepforge.serialization.register(cls, dump, load).',
    hint: () => 'runs before every operation; registers dump/load for a class',
  },
};

export function UtilsView() {
  return <ModulesView kind="utils" />;
}

export function SerializersView() {
  return <ModulesView kind="serializers" />;
}

/** Custom Utils and Custom Serialization: a list of Python modules and a co-edited editor for the open one. */
function ModulesView({ kind }: { kind: Kind }) {
  const { projectId = '', name } = useParams();
  const { doc, provider } = useProjectDoc();
  const navigate = useNavigate();
  const names = useDocSelector((d) => moduleNames(d, kind), [kind]);
  const [creating, setCreating] = useState(false);
  const { canEdit } = useProjectAccess();
  const t = TEXT[kind];
  const base = `/projects/${projectId}/${kind}`;
  useHotkeys([['n', () => canEdit && setCreating(true)]]);

  if (!name && names.length > 0) return <Navigate to={`${base}/${names[0]}`} replace />;
  const current = name && names.includes(name) ? name : null;

  const remove = (n: string): void => {
    modals.openConfirmModal({
      title: `Delete ${t.item} ${n}?`,
      children: <Text size="sm">Operations that import it will fail until it is back.</Text>,
      labels: { confirm: 'Delete', cancel: 'Cancel' },
      confirmProps: { color: 'red', 'data-testid': `confirm-delete-${kind}` },
      onConfirm: () => {
        deleteModule(doc, kind, n);
        void navigate(base, { replace: true });
      },
    });
  };

  return (
    <Box style={{ display: 'flex', flexDirection: 'column', height: '100%' }}>
      <ViewToolbar title={t.title} testId={`${kind}-toolbar`}>
        {canEdit && (
          <Button
            leftSection={<IconPlus size={14} />}
            onClick={() => setCreating(true)}
            data-testid={`new-${kind}`}
          >
            New {t.item}
          </Button>
        )}
      </ViewToolbar>
      <Box className="df-fill" style={{ display: 'flex' }}>
        <Box style={{ width: 220, borderRight: '1px solid var(--mantine-color-default-border)' }}>
          <ScrollArea h="100%">
            <Stack gap={0} p={4} data-testid={`${kind}-list`}>
              {names.length === 0 && (
                <Text size="xs" c="dimmed" p="xs">
                  None yet.
                </Text>
              )}
              {names.map((n) => (
                <NavLink
                  key={n}
                  component={Link}
                  to={`${base}/${n}`}
                  label={n}
                  active={n === current}
                  leftSection={<IconFileCode size={14} />}
                  styles={{ label: { fontFamily: 'var(--mantine-font-family-monospace)', fontSize: 12 } }}
                  data-testid={`${kind}-item`}
                  data-name={n}
                  rightSection={
                    canEdit && (
                      <Tooltip label="Delete">
                        <ActionIcon
                          size="xs"
                          color="red"
                          aria-label={`Delete ${n}`}
                          onClick={(e) => {
                            e.preventDefault();
                            e.stopPropagation();
                            remove(n);
                          }}
                        >
                          <IconTrash size={12} />
                        </ActionIcon>
                      </Tooltip>
                    )
                  }
                />
              ))}
            </Stack>
          </ScrollArea>
        </Box>
        <Box className="df-fill" style={{ display: 'flex', flexDirection: 'column' }}>
          {current ? (
            <ModuleEditor
              key={current}
              projectId={projectId}
              kind={kind}
              name={current}
              awareness={provider.awareness}
              readOnly={!canEdit}
            />
          ) : (
            <Center h="100%" data-testid={`${kind}-empty`}>
              <Stack align="center" gap={6} maw={520}>
                <Text fw={600}>{name ? `There is no ${t.item} “${name}”` : `No ${t.item}s yet`}</Text>
                <Text size="sm" c="dimmed" ta="center">
                  {t.empty}
                </Text>
                {canEdit && (
                  <Button mt="xs" leftSection={<IconPlus size={14} />} onClick={() => setCreating(true)}>
                    New {t.item}
                  </Button>
                )}
              </Stack>
            </Center>
          )}
        </Box>
      </Box>
      {creating && (
        <NamePrompt
          title={`New ${t.item}`}
          label="Module name"
          placeholder={kind === 'utils' ? 'swarp_string' : 'my_format'}
          description={
            kind === 'utils' ? 'A Python module name: operations import it as utils.<name>.' : undefined
          }
          confirm="Create"
          validate={(n) => identifierNameProblem(n, names, t.item)}
          onClose={() => setCreating(false)}
          onSubmit={(n) => {
            putModule(doc, kind, n, kind === 'utils' ? utilTemplate(n) : serializerTemplate(n));
            void navigate(`${base}/${n}`);
          }}
          testId={`new-${kind}-modal`}
        />
      )}
    </Box>
  );
}

function ModuleEditor({
  projectId,
  kind,
  name,
  awareness,
  readOnly,
}: {
  projectId: string;
  kind: Kind;
  name: string;
  awareness: unknown;
  readOnly: boolean;
}) {
  const [search] = useSearchParams();
  const ytext = useDocSelector((d) => moduleYText(d, kind, name), [kind, name], Object.is);
  const code = useDebouncedYText(ytext, 300);
  // Edits sync as they are typed: say when the server has them (issue 13: these editors said nothing).
  const { status, unsynced } = useProjectDoc();
  const [edited, setEdited] = useState(false);
  useEffect(() => {
    if (!ytext) return;
    const onChange = (_: unknown, tr: { local: boolean }): void => {
      if (tr.local) setEdited(true);
    };
    ytext.observe(onChange);
    return () => ytext.unobserve(onChange);
  }, [ytext]);
  const save = saveState(edited, status, unsynced);
  const lint = useMemo(() => toLintDiagnostics(code, pythonSyntaxDiagnostics(code)), [code]);
  if (!ytext) return null;
  return (
    <>
      <Group
        px="sm"
        h={30}
        gap={6}
        style={{ borderBottom: '1px solid var(--mantine-color-default-border)', flex: '0 0 auto' }}
      >
        <Text size="xs" fw={600} className="df-mono">
          {kind}/{name}.py
        </Text>
        <Text size="xs" c="dimmed">
          {TEXT[kind].hint(name)}
        </Text>
        <Badge
          ml="auto"
          size="sm"
          variant="light"
          color={save === 'saved' ? 'green' : save === 'saving' ? 'yellow' : 'red'}
          data-testid="module-save-state"
          data-state={save}
        >
          {SAVE_STATE_LABEL[save]}
        </Badge>
        {lint.length > 0 && (
          <Text size="xs" c="red" data-testid="module-errors">
            {lint.length} syntax error{lint.length === 1 ? '' : 's'}
          </Text>
        )}
      </Group>
      <Box className="df-fill">
        <CodeEditor
          ytext={ytext}
          awareness={awareness}
          language="python"
          diagnostics={lint}
          ariaLabel={`${kind}/${name}.py`}
          testId="module-code"
          readOnly={readOnly}
          languageServer={{ projectId, path: `${kind}/${name}.py` }}
          onView={(v) => {
            // Opened at a definition (…/utils/shapes?line=3): show that line.
            const line = Number(search.get('line'));
            if (v && Number.isInteger(line) && line > 0) setTimeout(() => revealLine(v, line), 0);
          }}
        />
      </Box>
    </>
  );
}

import type { AttributeSpec, Diagnostic, OperationInterface, PortSpec } from '@deepforge/core';
import { evaluatePythonLiteral } from '@deepforge/core';
import {
  ActionIcon,
  Badge,
  Box,
  Button,
  Divider,
  Group,
  Menu,
  Popover,
  Stack,
  Text,
  TextInput,
  Tooltip,
  UnstyledButton,
} from '@mantine/core';
import { IconAlertTriangle, IconDots, IconPencil, IconPlus, IconTrash } from '@tabler/icons-react';
import { createContext, useContext, useState } from 'react';
import type { InterfaceEdit } from '../lib/operation-sync.js';

export interface InterfacePanelProps {
  iface: OperationInterface | null;
  unused: readonly string[];
  diagnostics: readonly Diagnostic[];
  onEdit: (edit: InterfaceEdit) => boolean;
  onReveal: (line: number, column?: number) => void;
  /** Show the interface without the controls that change it (readers). */
  readOnly?: boolean;
}

/** The panel shows, but offers no changes (readers). */
const ReadOnly = createContext(false);

type PortKind = 'input' | 'output' | 'reference';

const KIND_COLOR: Record<PortKind, string> = { input: 'blue', output: 'teal', reference: 'cyan' };

/**
 * The interface editor: inputs flowing into the operation, references (light blue) beside them, outputs flowing
 * out, attributes inside. Every change rewrites the code through core's edit functions.
 */
export function InterfacePanel(props: InterfacePanelProps) {
  return (
    <ReadOnly.Provider value={props.readOnly ?? false}>
      <Interface {...props} />
    </ReadOnly.Provider>
  );
}

function Interface({ iface, unused, diagnostics, onEdit, onReveal }: InterfacePanelProps) {
  if (!iface) {
    return (
      <Stack gap="xs" p="md" data-testid="interface-panel" data-state="unreadable">
        <Text size="sm" fw={600}>
          The interface cannot be read
        </Text>
        <Text size="xs" c="dimmed">
          Fix the problems below; the interface follows the code as soon as it parses.
        </Text>
        <DiagnosticList diagnostics={diagnostics} onReveal={onReveal} />
      </Stack>
    );
  }
  return (
    <Stack gap="md" p="md" data-testid="interface-panel" data-state="ok">
      <Box>
        <PortRow kind="input" ports={iface.inputs} unused={unused} onEdit={onEdit} />
        <Group justify="center" gap={4} my={6}>
          <PortRow kind="reference" ports={iface.references} unused={[]} onEdit={onEdit} compact />
        </Group>
        <Box
          data-testid="interface-operation"
          style={{
            margin: '6px auto',
            maxWidth: 300,
            border: '2px solid var(--mantine-color-default-border)',
            borderRadius: 8,
            padding: '8px 10px',
            background: 'var(--mantine-color-default)',
          }}
        >
          <Text size="sm" fw={700} ta="center" className="df-mono">
            {iface.className}
          </Text>
          <Attributes attributes={iface.attributes} onEdit={onEdit} />
        </Box>
        <PortRow kind="output" ports={iface.outputs} unused={[]} onEdit={onEdit} />
      </Box>
      {diagnostics.length > 0 && (
        <>
          <Divider label="Problems" labelPosition="left" />
          <DiagnosticList diagnostics={diagnostics} onReveal={onReveal} />
        </>
      )}
    </Stack>
  );
}

function PortRow({
  kind,
  ports,
  unused,
  onEdit,
  compact,
}: {
  kind: PortKind;
  ports: readonly PortSpec[];
  unused: readonly string[];
  onEdit: (edit: InterfaceEdit) => boolean;
  compact?: boolean;
}) {
  const readOnly = useContext(ReadOnly);
  // Nothing to show and nothing to add: a reader sees no empty references row.
  if (readOnly && compact && ports.length === 0) return null;
  return (
    <Group justify="center" gap={6} wrap="wrap" data-testid={`interface-${kind}s`}>
      {compact ? (
        <Text size="10px" c="cyan" fw={600} tt="uppercase">
          References
        </Text>
      ) : (
        <Text size="10px" c="dimmed" w="100%" ta="center" tt="uppercase" fw={600}>
          {kind === 'input' ? 'Inputs (execute arguments)' : 'Outputs (returned names)'}
        </Text>
      )}
      {ports.map((p) => (
        <PortChip key={p.name} kind={kind} port={p} unused={unused.includes(p.name)} onEdit={onEdit} />
      ))}
      {readOnly ? (
        ports.length === 0 && (
          <Text size="xs" c="dimmed">
            none
          </Text>
        )
      ) : (
        <AddName kind={kind} onAdd={(name) => onEdit(addEdit(kind, name))} />
      )}
    </Group>
  );
}

function addEdit(kind: PortKind, name: string): InterfaceEdit {
  if (kind === 'input') return { kind: 'add-input', name };
  if (kind === 'output') return { kind: 'add-output', name };
  return { kind: 'add-reference', name };
}

function PortChip({
  kind,
  port,
  unused,
  onEdit,
}: {
  kind: PortKind;
  port: PortSpec;
  unused: boolean;
  onEdit: (edit: InterfaceEdit) => boolean;
}) {
  const [renaming, setRenaming] = useState(false);
  const readOnly = useContext(ReadOnly);
  const label = port.type ? `${port.name}: ${port.type}` : port.name;
  const chip = (
    <Badge
      variant={kind === 'reference' ? 'light' : 'outline'}
      color={unused ? 'orange' : KIND_COLOR[kind]}
      size="lg"
      radius="sm"
      tt="none"
      style={{ fontFamily: 'var(--mantine-font-family-monospace)', fontWeight: 500 }}
      leftSection={unused ? <IconAlertTriangle size={12} /> : undefined}
      rightSection={
        readOnly ? undefined : (
          <Menu position="bottom-end" withinPortal>
            <Menu.Target>
              <ActionIcon
                size="xs"
                aria-label={`Change ${kind} ${port.name}`}
                data-testid={`${kind}-menu-${port.name}`}
              >
                <IconDots size={12} />
              </ActionIcon>
            </Menu.Target>
            <Menu.Dropdown>
              <Menu.Item leftSection={<IconPencil size={14} />} onClick={() => setRenaming(true)}>
                Rename…
              </Menu.Item>
              <Menu.Item
                color="red"
                leftSection={<IconTrash size={14} />}
                onClick={() =>
                  onEdit(
                    kind === 'input'
                      ? { kind: 'remove-input', name: port.name }
                      : kind === 'output'
                        ? { kind: 'remove-output', name: port.name }
                        : { kind: 'remove-reference', name: port.name },
                  )
                }
                data-testid={`${kind}-remove-${port.name}`}
              >
                Remove
              </Menu.Item>
            </Menu.Dropdown>
          </Menu>
        )
      }
      data-testid={`${kind}-${port.name}`}
      data-unused={unused || undefined}
    >
      {kind === 'reference' ? `ref ${label}` : label}
    </Badge>
  );
  return (
    <Popover opened={renaming} onChange={setRenaming} withArrow trapFocus>
      <Popover.Target>
        {unused ? (
          <Tooltip label={`${port.name} is never used in execute`}>
            <span>{chip}</span>
          </Tooltip>
        ) : (
          <span>{chip}</span>
        )}
      </Popover.Target>
      <Popover.Dropdown>
        <RenameForm
          initial={port.name}
          onSubmit={(to) => {
            const edit: InterfaceEdit =
              kind === 'input'
                ? { kind: 'rename-input', from: port.name, to }
                : kind === 'output'
                  ? { kind: 'rename-output', from: port.name, to }
                  : { kind: 'rename-reference', from: port.name, to };
            if (onEdit(edit)) setRenaming(false);
          }}
        />
      </Popover.Dropdown>
    </Popover>
  );
}

function RenameForm({ initial, onSubmit }: { initial: string; onSubmit: (name: string) => void }) {
  const [name, setName] = useState(initial);
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        if (name.trim() && name.trim() !== initial) onSubmit(name.trim());
      }}
    >
      <Group gap={4}>
        <TextInput
          data-autofocus
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
          aria-label="New name"
          styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
          data-testid="interface-rename-input"
        />
        <Button type="submit">Rename</Button>
      </Group>
    </form>
  );
}

function AddName({ kind, onAdd }: { kind: PortKind; onAdd: (name: string) => boolean }) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState('');
  return (
    <Popover opened={open} onChange={setOpen} withArrow trapFocus>
      <Popover.Target>
        <Tooltip label={`Add ${kind}`}>
          <ActionIcon
            variant="light"
            color={KIND_COLOR[kind]}
            size="sm"
            aria-label={`Add ${kind}`}
            onClick={() => setOpen((o) => !o)}
            data-testid={`add-${kind}`}
          >
            <IconPlus size={14} />
          </ActionIcon>
        </Tooltip>
      </Popover.Target>
      <Popover.Dropdown>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (name.trim() && onAdd(name.trim())) {
              setName('');
              setOpen(false);
            }
          }}
        >
          <Group gap={4}>
            <TextInput
              data-autofocus
              placeholder={`${kind} name`}
              value={name}
              onChange={(e) => setName(e.currentTarget.value)}
              aria-label={`New ${kind} name`}
              styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
              data-testid={`add-${kind}-name`}
            />
            <Button type="submit" data-testid={`add-${kind}-submit`}>
              Add
            </Button>
          </Group>
        </form>
      </Popover.Dropdown>
    </Popover>
  );
}

function Attributes({
  attributes,
  onEdit,
}: {
  attributes: readonly AttributeSpec[];
  onEdit: (e: InterfaceEdit) => boolean;
}) {
  const readOnly = useContext(ReadOnly);
  return (
    <Stack gap={4} mt={6} data-testid="interface-attributes">
      {attributes.length === 0 && (
        <Text size="10px" c="dimmed" ta="center">
          no attributes
        </Text>
      )}
      {attributes.map((a) => (
        <AttributeRow key={a.name} spec={a} onEdit={onEdit} />
      ))}
      {!readOnly && <AddAttribute onEdit={onEdit} />}
    </Stack>
  );
}

function AttributeRow({ spec, onEdit }: { spec: AttributeSpec; onEdit: (e: InterfaceEdit) => boolean }) {
  const [editing, setEditing] = useState(false);
  const [renaming, setRenaming] = useState(false);
  const readOnly = useContext(ReadOnly);
  if (readOnly) {
    return (
      <Group gap={4} wrap="nowrap" data-testid={`attribute-${spec.name}`}>
        <Text size="xs" className="df-mono" fw={600}>
          {spec.name}
        </Text>
        <Text size="xs" c="dimmed">
          =
        </Text>
        <Text
          size="xs"
          className="df-mono"
          truncate
          style={{ minWidth: 0, flex: 1 }}
          data-testid={`attribute-default-${spec.name}`}
        >
          {spec.defaultSource || '—'}
        </Text>
        <Badge size="xs" variant="light" color="gray">
          {spec.hint ?? spec.type}
        </Badge>
      </Group>
    );
  }
  return (
    <Group gap={4} wrap="nowrap" data-testid={`attribute-${spec.name}`}>
      <Popover opened={renaming} onChange={setRenaming} withArrow trapFocus>
        <Popover.Target>
          <UnstyledButton onClick={() => setRenaming(true)} aria-label={`Rename attribute ${spec.name}`}>
            <Text size="xs" className="df-mono" fw={600}>
              {spec.name}
            </Text>
          </UnstyledButton>
        </Popover.Target>
        <Popover.Dropdown>
          <RenameForm
            initial={spec.name}
            onSubmit={(to) => {
              if (onEdit({ kind: 'rename-attribute', from: spec.name, to })) setRenaming(false);
            }}
          />
        </Popover.Dropdown>
      </Popover>
      <Text size="xs" c="dimmed">
        =
      </Text>
      <Popover opened={editing} onChange={setEditing} withArrow trapFocus>
        <Popover.Target>
          <UnstyledButton
            onClick={() => setEditing(true)}
            style={{ minWidth: 0, flex: 1 }}
            aria-label={`Default of ${spec.name}`}
          >
            <Text
              size="xs"
              className="df-mono"
              truncate
              c="blue"
              data-testid={`attribute-default-${spec.name}`}
            >
              {spec.defaultSource || '—'}
            </Text>
          </UnstyledButton>
        </Popover.Target>
        <Popover.Dropdown>
          <DefaultForm
            initial={spec.defaultSource}
            onSubmit={(source) => {
              if (onEdit({ kind: 'set-attribute-default', name: spec.name, source })) setEditing(false);
            }}
          />
        </Popover.Dropdown>
      </Popover>
      <Badge size="xs" variant="light" color="gray">
        {spec.hint ?? spec.type}
      </Badge>
      <ActionIcon
        size="xs"
        color="red"
        aria-label={`Remove attribute ${spec.name}`}
        onClick={() => onEdit({ kind: 'remove-attribute', name: spec.name })}
        data-testid={`attribute-remove-${spec.name}`}
      >
        <IconTrash size={12} />
      </ActionIcon>
    </Group>
  );
}

/** The type a default's Python source gives an attribute, or why it cannot be read. */
function literalInfo(source: string): { ok: boolean; text: string } {
  if (source.trim() === '') return { ok: false, text: 'a default is needed' };
  const r = evaluatePythonLiteral(source);
  if (r.ok) return { ok: true, text: `type: ${r.type === 'none' ? 'None' : r.type}` };
  return { ok: true, text: 'an expression (its type is not known)' };
}

function DefaultForm({ initial, onSubmit }: { initial: string; onSubmit: (source: string) => void }) {
  const [text, setText] = useState(initial);
  const info = literalInfo(text);
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        if (info.ok) onSubmit(text.trim());
      }}
    >
      <Group gap={4} align="flex-start">
        <TextInput
          data-autofocus
          value={text}
          onChange={(e) => setText(e.currentTarget.value)}
          description={info.text}
          aria-label="Default value (Python)"
          styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
          data-testid="attribute-default-input"
        />
        <Button type="submit" disabled={!info.ok}>
          Set
        </Button>
      </Group>
    </form>
  );
}

function AddAttribute({ onEdit }: { onEdit: (e: InterfaceEdit) => boolean }) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState('');
  const [source, setSource] = useState('0');
  const info = literalInfo(source);
  return (
    <Popover opened={open} onChange={setOpen} withArrow trapFocus width={280}>
      <Popover.Target>
        <Button
          variant="subtle"
          size="compact-xs"
          leftSection={<IconPlus size={12} />}
          onClick={() => setOpen((o) => !o)}
          data-testid="add-attribute"
        >
          attribute
        </Button>
      </Popover.Target>
      <Popover.Dropdown>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (!name.trim() || !info.ok) return;
            if (onEdit({ kind: 'add-attribute', name: name.trim(), source: source.trim() })) {
              setName('');
              setSource('0');
              setOpen(false);
            }
          }}
        >
          <Stack gap={6}>
            <TextInput
              label="Name"
              data-autofocus
              value={name}
              onChange={(e) => setName(e.currentTarget.value)}
              styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
              data-testid="add-attribute-name"
            />
            <TextInput
              label="Default (Python)"
              description={`${info.text} — e.g. 10, 0.001, 'relu', True, [32, 64]`}
              value={source}
              onChange={(e) => setSource(e.currentTarget.value)}
              styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
              data-testid="add-attribute-default"
            />
            <Button type="submit" disabled={!name.trim() || !info.ok} data-testid="add-attribute-submit">
              Add attribute
            </Button>
          </Stack>
        </form>
      </Popover.Dropdown>
    </Popover>
  );
}

export function DiagnosticList({
  diagnostics,
  onReveal,
}: {
  diagnostics: readonly Diagnostic[];
  onReveal: (line: number, column?: number) => void;
}) {
  return (
    <Stack gap={2} data-testid="operation-diagnostics">
      {diagnostics.map((d, i) => (
        <UnstyledButton
          key={i}
          onClick={() => d.line !== undefined && onReveal(d.line, d.column)}
          style={{ cursor: d.line !== undefined ? 'pointer' : 'default' }}
        >
          <Group gap={6} wrap="nowrap" align="flex-start">
            <Badge
              size="xs"
              color={d.severity === 'error' ? 'red' : 'orange'}
              variant="light"
              style={{ flex: '0 0 auto' }}
            >
              {d.line !== undefined ? `${d.line}:${d.column ?? 1}` : d.severity}
            </Badge>
            <Text size="xs">{d.message}</Text>
          </Group>
        </UnstyledButton>
      ))}
    </Stack>
  );
}

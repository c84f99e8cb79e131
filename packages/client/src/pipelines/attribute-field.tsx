import type { AttributeSpec, JsonValue } from '@deepforge/core';
import { ActionIcon, Group, Switch, Text, TextInput, Textarea, Tooltip } from '@mantine/core';
import { IconArrowBackUp } from '@tabler/icons-react';
import { useEffect, useState } from 'react';
import { formatAttributeValue, parseAttributeInput } from '../lib/attribute-value.js';

export interface AttributeFieldProps {
  spec: AttributeSpec;
  /** The node's value, or undefined when it uses the operation's default. */
  value: JsonValue | undefined;
  /** A value to set, or undefined to go back to the default. */
  onCommit: (value: JsonValue | undefined) => void;
  /** Shows the value, takes no changes (readers). */
  readOnly?: boolean;
}

/**
 * One attribute of a node, edited as its type asks: a switch for bool, a number field for int/float, text for
 * str, JSON for lists and dicts. Text is written to the document on Enter or blur, once it reads as the type.
 */
export function AttributeField({ spec, value, onCommit, readOnly = false }: AttributeFieldProps) {
  const effective = value === undefined ? spec.default : value;
  const overridden = value !== undefined;
  const [text, setText] = useState(formatAttributeValue(effective));
  const [focused, setFocused] = useState(false);
  useEffect(() => {
    // Someone else changed it (or it was reset): show the new value unless the user is typing.
    if (!focused) setText(formatAttributeValue(effective));
  }, [effective, focused]);
  const parsed = parseAttributeInput(spec.type, text);
  const commit = (): void => {
    if (!parsed.ok) return;
    if (JSON.stringify(parsed.value) === JSON.stringify(effective)) return;
    onCommit(parsed.value);
  };
  const label = (
    <Group gap={6} wrap="nowrap">
      <Text size="xs" fw={600} className="df-mono">
        {spec.name}
      </Text>
      <Text size="10px" c="dimmed">
        {spec.hint ?? spec.type}
      </Text>
    </Group>
  );
  const reset =
    overridden && !readOnly ? (
      <Tooltip label={`Back to the default (${spec.defaultSource || 'none'})`}>
        <ActionIcon size="sm" aria-label={`Reset ${spec.name}`} onClick={() => onCommit(undefined)}>
          <IconArrowBackUp size={14} />
        </ActionIcon>
      </Tooltip>
    ) : null;
  const testId = `attr-${spec.name}`;

  if (spec.type === 'bool') {
    return (
      <Group justify="space-between" wrap="nowrap">
        {label}
        <Group gap={4} wrap="nowrap">
          {reset}
          <Switch
            checked={effective === true}
            disabled={readOnly}
            onChange={(e) => onCommit(e.currentTarget.checked)}
            aria-label={spec.name}
            data-testid={testId}
          />
        </Group>
      </Group>
    );
  }
  const common = {
    label,
    value: text,
    error: parsed.ok ? undefined : parsed.error,
    onFocus: () => setFocused(true),
    onBlur: () => {
      setFocused(false);
      commit();
    },
    rightSection: reset,
    readOnly,
    'aria-label': spec.name,
    'data-testid': testId,
    description: overridden ? undefined : 'default',
    styles: { input: { fontFamily: 'var(--mantine-font-family-monospace)' } },
  };
  if (spec.type === 'list' || spec.type === 'dict') {
    return (
      <Textarea
        {...common}
        autosize
        minRows={1}
        maxRows={6}
        onChange={(e) => setText(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.metaKey || e.ctrlKey)) commit();
        }}
      />
    );
  }
  return (
    <TextInput
      {...common}
      inputMode={spec.type === 'int' || spec.type === 'float' ? 'decimal' : undefined}
      onChange={(e) => setText(e.currentTarget.value)}
      onKeyDown={(e) => {
        if (e.key === 'Enter') commit();
        if (e.key === 'Escape') setText(formatAttributeValue(effective));
      }}
    />
  );
}

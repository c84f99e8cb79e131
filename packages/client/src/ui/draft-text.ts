import { useEffect, useState, type ChangeEvent, type KeyboardEvent } from 'react';

/** The props a text input takes from a draft (value and the four handlers). */
export interface DraftInputProps {
  value: string;
  onChange: (e: ChangeEvent<HTMLInputElement>) => void;
  onFocus: () => void;
  onBlur: () => void;
  onKeyDown: (e: KeyboardEvent<HTMLInputElement>) => void;
}

/**
 * The text typed into a field that edits a stored value, before it is written: the caller checks `text` as it
 * changes (its error shows under the field) and spreads `props(commit)` on the input, so that `commit` runs on
 * Enter and on blur (it writes only a valid, changed value). While the field is not focused the text follows
 * `shown`, so another user's edit appears; `revertOnEscape`: Escape goes back to `shown`.
 */
export function useDraftText(
  shown: string,
  { revertOnEscape = true }: { revertOnEscape?: boolean } = {},
): { text: string; props: (commit: () => void) => DraftInputProps } {
  const [text, setText] = useState(shown);
  const [focused, setFocused] = useState(false);
  useEffect(() => {
    if (!focused) setText(shown);
  }, [shown, focused]);
  return {
    text,
    props: (commit) => ({
      value: text,
      onChange: (e) => setText(e.currentTarget.value),
      onFocus: () => setFocused(true),
      onBlur: () => {
        setFocused(false);
        commit();
      },
      onKeyDown: (e) => {
        if (e.key === 'Enter') commit();
        if (e.key === 'Escape' && revertOnEscape) setText(shown);
      },
    }),
  };
}

const NAMES = [
  'Ada',
  'Alan',
  'Grace',
  'Edsger',
  'Barbara',
  'Donald',
  'Frances',
  'John',
  'Katherine',
  'Claude',
];
const COLORS = ['#e8590c', '#1c7ed6', '#2f9e44', '#ae3ec9', '#f08c00', '#0c8599', '#e03131', '#5f3dc4'];

export interface LocalUser {
  name: string;
  color: string;
  colorLight: string;
}

/** Two letters for an avatar: "Ada 12" → A1, "grace.hopper" → GH, "alice" → AL. */
export function initials(name: string): string {
  const words = name.split(/[\s._-]+/).filter(Boolean);
  const letters = words.length > 1 ? words.map((w) => w[0]).join('') : name.slice(0, 2);
  return letters.slice(0, 2).toUpperCase();
}

/** A colour of the palette picked by the name, so someone has the same colour in every tab and browser. */
export function colorOf(name: string): string {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (Math.imul(h, 31) + name.charCodeAt(i)) | 0;
  return COLORS[Math.abs(h) % COLORS.length] as string;
}

/**
 * Who this browser is to the others in a project (remote cursors, avatars). Signed in (accounts on): the account
 * name. Otherwise a name and colour chosen once and kept in localStorage.
 */
export function localUser(accountName?: string | null): LocalUser {
  if (accountName) {
    const color = colorOf(accountName);
    return { name: accountName, color, colorLight: `${color}33` };
  }
  const key = 'deepforge.user';
  try {
    const saved = JSON.parse(localStorage.getItem(key) ?? 'null') as LocalUser | null;
    if (saved?.name && saved.color) return saved;
  } catch {
    // fall through to a new one
  }
  const i = Math.floor(Math.random() * 1000);
  const color = COLORS[i % COLORS.length] as string;
  const user = { name: `${NAMES[i % NAMES.length]} ${i}`, color, colorLight: `${color}33` };
  try {
    localStorage.setItem(key, JSON.stringify(user));
  } catch {
    // private mode: a new name per tab is fine
  }
  return user;
}

import { useEffect, useState } from 'react';
import { serverClock } from './server-clock.js';

/** The server's time now (see ServerClock), updated every `everyMs` while `active`, for durations that move. */
export function useServerNow(active: boolean, everyMs = 1000): number {
  const [now, setNow] = useState(() => serverClock.serverNow());
  useEffect(() => {
    if (!active) return;
    setNow(serverClock.serverNow());
    const timer = setInterval(() => setNow(serverClock.serverNow()), everyMs);
    return () => clearInterval(timer);
  }, [active, everyMs]);
  return now;
}

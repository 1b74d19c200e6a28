/**
 * Where a standby's primary_conninfo points, read from the setting's text. Only the host and port
 * leave this function: the rest of a conninfo may hold a password, and nothing here keeps it.
 * Both libpq forms are read (https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING):
 * `key=value` pairs (values optionally single-quoted, with \' and \\ escapes) and URIs
 * (`postgresql://user@host:port/db?...`, whose query may also carry host= and port=).
 */
export interface ConninfoTarget {
  /** `host`, else `hostaddr`; a multi-host list stays as written ("a,b"): it names no single primary. */
  host: string | null;
  /** null when the conninfo names none (libpq then uses PGPORT or 5432). */
  port: number | null;
}

export function conninfoTarget(conninfo: string): ConninfoTarget {
  const text = conninfo.trim();
  const settings = /^postgres(ql)?:\/\//i.test(text) ? uriSettings(text) : keywordSettings(text);
  const host = settings.get('host') || settings.get('hostaddr') || null;
  const port = settings.get('port');
  return { host, port: port && /^\d{1,5}$/.test(port) ? Number(port) : null };
}

/** key=value pairs; a malformed tail ends the reading (what was read before it still counts). */
function keywordSettings(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  while (true) {
    skipSpace();
    if (i >= text.length) return settings;
    const keyStart = i;
    while (i < text.length && text[i] !== '=' && !/\s/.test(text[i])) i++;
    const key = text.slice(keyStart, i);
    skipSpace();
    if (text[i] !== '=' || !key) return settings;
    i++;
    skipSpace();
    let value = '';
    if (text[i] === "'") {
      i++;
      while (i < text.length && text[i] !== "'") {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        value += text[i++];
      }
      if (text[i] !== "'") return settings; // unterminated quote
      i++;
    } else {
      while (i < text.length && !/\s/.test(text[i])) {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        value += text[i++];
      }
    }
    settings.set(key, value);
  }
}

function uriSettings(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  const rest = text.replace(/^postgres(ql)?:\/\//i, '');
  const queryAt = rest.indexOf('?');
  const beforeQuery = queryAt < 0 ? rest : rest.slice(0, queryAt);
  const authority = beforeQuery.split('/')[0];
  const hostPart = authority.slice(authority.lastIndexOf('@') + 1);
  // The first host of a list; [v6]:port or host:port.
  const first = hostPart.split(',')[0];
  const bracketed = /^\[([^\]]*)\](?::(\d*))?$/.exec(first);
  const [host, port] = bracketed ? [bracketed[1], bracketed[2] ?? ''] : [first.split(':')[0], first.split(':')[1] ?? ''];
  if (host) settings.set('host', hostPart.includes(',') ? hostPart.split(',').map((h) => decode(h.split(':')[0])).join(',') : decode(host));
  if (port) settings.set('port', port);
  if (queryAt >= 0) {
    for (const pair of rest.slice(queryAt + 1).split('&')) {
      const eq = pair.indexOf('=');
      if (eq > 0) settings.set(decode(pair.slice(0, eq)), decode(pair.slice(eq + 1)));
    }
  }
  return settings;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

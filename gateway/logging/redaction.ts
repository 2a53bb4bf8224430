/** What stands for a secret wherever a value is shown. */
export const SECRET_MASK = '****';

/** Names (of keys, of a URL's query parameters) whose values are secrets. */
export const SECRET_NAME = /pass|secret|token|key|credential|auth|cookie|private/i;

/**
 * `text` fit to show when it is a URL: the password of its user info (`scheme://user:password@…`)
 * and the values of secret-named query parameters (`?password=…`, `?sslpassword=…`, which
 * PostgreSQL's clients take as well) replaced by `****`; anything else is returned as it is. The
 * user info runs to the URL's last `@`, so a password holding an unescaped `@` is hidden whole.
 */
export function redactUrl(text: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(text);
  if (!scheme) return text;
  let head = scheme[0];
  let rest = text.slice(head.length);
  const user = /^[^/:@]*:/.exec(rest);
  const at = rest.lastIndexOf('@');
  if (user && at >= user[0].length) {
    head += `${user[0]}${SECRET_MASK}`;
    rest = rest.slice(at);
  }
  const query = rest.indexOf('?');
  if (query < 0) return head + rest;
  const params = rest.slice(query + 1).replace(/(^|[&;])([^=&;#]*)=([^&;#]*)/g, (all: string, separator: string, name: string) => (SECRET_NAME.test(decodedName(name)) ? `${separator}${name}=${SECRET_MASK}` : all));
  return head + rest.slice(0, query + 1) + params;
}

function decodedName(name: string): string {
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}

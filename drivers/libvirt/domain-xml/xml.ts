/** The few XML helpers the domain builders need: every value that reaches XML goes through `esc`. */

/** Escapes text or an attribute value (both quote kinds, so either quoting is safe). */
export function esc(value: string | number): string {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** Reverses `esc` (and the numeric entities libvirt may write). */
export function unesc(value: string): string {
  return value
    .replace(/&#x([0-9a-fA-F]+);/g, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/** `<name attr="v"…>text</name>`, or self-closing without text; attributes and text escaped. */
export function el(name: string, attrs: Record<string, string | number | undefined> = {}, text?: string | number): string {
  const attributes = Object.entries(attrs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${esc(v!)}"`)
    .join('');
  return text === undefined ? `<${name}${attributes}/>` : `<${name}${attributes}>${esc(text)}</${name}>`;
}

/** `<name attr…>children</name>` with children already built (and so already escaped). */
export function parent(name: string, attrs: Record<string, string | number | undefined>, children: Array<string | false | undefined>): string {
  const inner = children.filter((c): c is string => typeof c === 'string' && c.length > 0);
  const open = el(name, attrs).slice(0, -2);
  return `${open}>\n${inner.map((c) => indent(c)).join('\n')}\n</${name}>`;
}

function indent(text: string): string {
  return text.split('\n').map((l) => `  ${l}`).join('\n');
}

/** The text of the first `<tag …>text</tag>` in libvirt's XML, unescaped. */
export function textOf(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}(?:\\s[^>]*)?>([^<]*)</${tag}>`).exec(xml);
  return m ? unesc(m[1]!) : undefined;
}

/** The value of `attr` on the first `<tag …>` in libvirt's XML, unescaped. */
export function attrOf(xml: string, tag: string, attr: string): string | undefined {
  const m = new RegExp(`<${tag}\\s[^>]*\\b${attr}=(["'])([^"']*)\\1`).exec(xml);
  return m ? unesc(m[2]!) : undefined;
}

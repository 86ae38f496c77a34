// Times, counts and factors as the page words them. No DOM: tested in node (tests/js).

export function timezone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
  } catch {
    return null;
  }
}

/** Parses the server's ISO timestamps; ones without an offset are UTC. */
export function parseTime(value) {
  if (!value) return null;
  const text = String(value);
  const hasZone = /(?:Z|[+-]\d{2}:?\d{2})$/i.test(text);
  const date = new Date(hasZone ? text : `${text}Z`);
  return Number.isNaN(date.getTime()) ? null : date;
}

const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

export function relativeTime(date, now = new Date()) {
  if (!date) return '';
  const seconds = Math.round((date - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 45) return seconds <= 0 ? 'just now' : 'in a moment';
  const units = [
    ['minute', 60, 3600],
    ['hour', 3600, 86400],
    ['day', 86400, 86400 * 7],
  ];
  for (const [unit, size, limit] of units) {
    if (abs < limit) return relativeFormat.format(Math.round(seconds / size), unit);
  }
  const sameYear = date.getFullYear() === now.getFullYear();
  return date.toLocaleDateString(undefined, { month: 'short', day: 'numeric', ...(sameYear ? {} : { year: 'numeric' }) });
}

export function dueLabel(date, now = new Date()) {
  if (!date) return '';
  const sameDay = date.toDateString() === now.toDateString();
  const tomorrow = new Date(now);
  tomorrow.setDate(now.getDate() + 1);
  const time = date.toLocaleTimeString(undefined, { hour: 'numeric', minute: '2-digit' });
  if (sameDay) return `Today, ${time}`;
  if (date.toDateString() === tomorrow.toDateString()) return `Tomorrow, ${time}`;
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (date.toDateString() === yesterday.toDateString()) return `Yesterday, ${time}`;
  const withinWeek = Math.abs(date - now) < 6 * 86400 * 1000;
  const day = date.toLocaleDateString(undefined, withinWeek
    ? { weekday: 'short' }
    : { weekday: 'short', month: 'short', day: 'numeric', ...(date.getFullYear() === now.getFullYear() ? {} : { year: 'numeric' }) });
  return `${day}, ${time}`;
}

/** "3 messages", "1 message". */
export function messageCount(count) {
  return `${count} message${count === 1 ? '' : 's'}`;
}

const number = new Intl.NumberFormat('en');

/** A conversation's token usage, and the user's today (UTC), in one line. */
export function usageLine(conversation, days) {
  const today = days.reduce((sum, day) => sum + day.total_tokens, 0);
  const requests = `${conversation.requests} request${conversation.requests === 1 ? '' : 's'}`;
  return (
    `${number.format(conversation.total_tokens)} tokens in ${requests} ` +
    `(${number.format(conversation.prompt_tokens)} prompt, ${number.format(conversation.completion_tokens)} reply)` +
    ` · today (UTC) ${number.format(today)}`
  );
}

export function capitalize(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}

/** 1.25 → "1.25", 1.5 → "1.5", 1 → "1". */
export function formatFactor(value) {
  return Number(value).toFixed(2).replace(/\.?0+$/, '');
}

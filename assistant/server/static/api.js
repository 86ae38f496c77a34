// The server's JSON API (README "API"): one fetch wrapper and a function per route.

import { timezone } from './format.js';

export class ApiError extends Error {
  constructor(status, detail, retryAfter = null) {
    super(detail);
    this.status = status;
    this.retryAfter = retryAfter; // seconds, from a 429's Retry-After
  }
}

/** What went wrong, from an error response: FastAPI's `detail`, or the status. */
export async function errorDetail(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === 'string') return body.detail;
    if (Array.isArray(body.detail)) {
      return body.detail.map((d) => (d && d.msg ? d.msg.replace(/^Value error, /, '') : String(d))).join('; ');
    }
  } catch {
    /* not JSON */
  }
  return `Request failed (${response.status}${response.statusText ? ` ${response.statusText}` : ''})`;
}

export async function request(path, { method = 'GET', body } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? { Accept: 'application/json' } : { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'Could not reach the server.');
  }
  if (!response.ok) {
    const retryAfter = Number.parseInt(response.headers.get('Retry-After') ?? '', 10);
    throw new ApiError(response.status, await errorDetail(response), Number.isNaN(retryAfter) ? null : retryAfter);
  }
  if (response.status === 204) return null;
  return response.json();
}

/** Which conversation the next call continues (null: a new one), and with AUTH=none who is
 * talking (`user`; null when signed in, the session says who). */
export function selectSession(user, conversationId) {
  const body = { conversation_id: conversationId ?? null, timezone: timezone() };
  if (user !== null && user !== undefined) body.user = user;
  return request('/api/session', { method: 'POST', body });
}

/** `{auth: 'none'|'password', user}`: whether this server signs people in, and as whom. */
export const getAuth = () => request('/api/auth');
export const login = (user, password) => request('/api/login', { method: 'POST', body: { user, password } });
export const logout = () => request('/api/logout', { method: 'POST' });

export const getConversations = () => request('/api/conversations');
export const getMessages = (conversationId) => request(`/api/conversations/${encodeURIComponent(conversationId)}/messages`);
export const getNotes = () => request('/api/notes');
export const getReminders = () => request('/api/reminders');
export const getToolLabels = () => request('/api/tools');
export const getConversationUsage = (conversationId) => request(`/api/conversations/${encodeURIComponent(conversationId)}/usage`);
export const getUsage = (days) => request(`/api/usage?days=${days}`);

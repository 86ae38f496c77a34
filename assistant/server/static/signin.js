// Who is talking: the first screen's words and checks, by the server's AUTH mode
// ('password': a name and a password, signed in by the server; 'none': a name alone).

/** The first screen's words for a mode. */
export function welcomeText(mode) {
  if (mode === 'password') {
    return {
      title: 'Sign in',
      lead: 'Your notes, reminders and conversations are yours alone.',
      button: 'Sign in',
      nameAutocomplete: 'username',
      switchLabel: 'Sign out',
    };
  }
  return {
    title: "Who's talking?",
    lead: 'I keep notes, reminders and conversations separately for each person.',
    button: 'Continue',
    nameAutocomplete: 'nickname',
    switchLabel: 'Switch',
  };
}

/** What is missing from the form before asking the server, or null. */
export function missingField(mode, name, password) {
  if (!name.trim()) return { field: 'name', message: 'Please enter your name.' };
  if (mode === 'password' && !password) return { field: 'password', message: 'Please enter your password.' };
  return null;
}

/** "in 12 minutes", "in 40 seconds": how long a Retry-After (seconds) is, in words. */
export function waitInWords(seconds) {
  if (!Number.isFinite(seconds) || seconds <= 0) return 'later';
  if (seconds < 60) return `in ${Math.ceil(seconds)} second${Math.ceil(seconds) === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `in ${minutes} minute${minutes === 1 ? '' : 's'}`;
}

/** What the form says when signing in failed (an ApiError: status, message, retryAfter). */
export function signInError(error) {
  if (error.status === 401) return 'Wrong name or password.';
  if (error.status === 429) return `Too many failed sign-ins. Try again ${waitInWords(error.retryAfter)}.`;
  return error.message;
}

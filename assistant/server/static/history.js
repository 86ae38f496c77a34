// Paging through the history: the conversation list, loaded a page at a time as it scrolls, and
// a conversation's messages, opened at its end and loaded backwards as it is scrolled up. No DOM
// beyond a scroller's three numbers: tested in node (tests/js).

export const CONVERSATION_PAGE = 50;
export const MESSAGE_PAGE = 100;
// How close to the edge (px) a scroll must come for the next page to load.
export const EDGE = 300;

/** Most recent first, as the server orders them: later `updated_at`, then the larger id. */
function newer(a, b) {
  if (a.updated_at !== b.updated_at) return a.updated_at > b.updated_at;
  return a.id > b.id;
}

/** `list` with `page` (the next page, older) added at its end, none twice. */
export function appendPage(list, page) {
  const seen = new Set(list.map((c) => c.id));
  return [...list, ...page.filter((c) => !seen.has(c.id))];
}

/**
 * The list after the first page was fetched again (`page`, `size` asked for): the page, then
 * the older ones already loaded beyond it. One loaded earlier that now sorts within the page
 * but isn't in it is gone (deleted, or moved up into the page).
 */
export function refreshFirstPage(list, page, size) {
  if (page.length < size) return [...page];
  const last = page[page.length - 1];
  const inPage = new Set(page.map((c) => c.id));
  return [...page, ...list.filter((c) => !inPage.has(c.id) && newer(last, c))];
}

/** The conversation list's pages: `fetchPage(before)` answers the page after id `before`. */
export class ConversationPager {
  constructor(fetchPage, size = CONVERSATION_PAGE) {
    this.fetchPage = fetchPage;
    this.size = size;
    this.items = [];
    this.done = false;
    this.loading = null;
  }

  reset() {
    this.items = [];
    this.done = false;
    this.loading = null;
  }

  /** The newest page again, keeping the older pages already loaded. */
  async refresh() {
    const page = await this.fetchPage(null, this.size);
    this.items = this.items.length ? refreshFirstPage(this.items, page, this.size) : [...page];
    if (page.length < this.size) this.done = true;
    return this.items;
  }

  /** The next (older) page, once at a time; false when there is none. */
  loadMore() {
    if (this.done) return Promise.resolve(false);
    if (!this.loading) {
      const before = this.items.length ? this.items[this.items.length - 1].id : null;
      this.loading = this.fetchPage(before, this.size)
        .then((page) => {
          this.items = appendPage(this.items, page);
          if (page.length < this.size) this.done = true;
          return page.length > 0;
        })
        .finally(() => {
          this.loading = null;
        });
    }
    return this.loading;
  }

  remove(id) {
    this.items = this.items.filter((c) => c.id !== id);
  }
}

/**
 * One conversation's messages, a page at a time: `fetchPage({before, after}, size)` answers
 * messages oldest first, each with its `seq`.
 */
export class MessagePager {
  constructor(fetchPage, size = MESSAGE_PAGE) {
    this.fetchPage = fetchPage;
    this.size = size;
    this.first = null; // seq of the earliest message loaded
    this.last = null; // seq of the latest
    this.atStart = false; // nothing earlier to load
    this.atEnd = false; // nothing later to load
    this.loading = null;
  }

  _took(page) {
    if (!page.length) return;
    if (this.first === null || page[0].seq < this.first) this.first = page[0].seq;
    if (this.last === null || page[page.length - 1].seq > this.last) this.last = page[page.length - 1].seq;
  }

  /** The newest page: the conversation opened at its end. */
  async openAtEnd() {
    const page = await this.fetchPage({}, this.size);
    this._took(page);
    this.atEnd = true;
    this.atStart = page.length < this.size;
    return page;
  }

  /** Opened at message `seq` (a search hit): it and what came before, then what follows. */
  async openAt(seq) {
    const [before, after] = await Promise.all([
      this.fetchPage({ before: seq + 1 }, this.size),
      this.fetchPage({ after: seq }, this.size),
    ]);
    this._took(before);
    this._took(after);
    this.atStart = before.length < this.size;
    this.atEnd = after.length < this.size;
    return [...before, ...after];
  }

  /** Earlier messages (to put above), once at a time; [] at the start. */
  loadEarlier() {
    return this._load('earlier');
  }

  /** Later messages (to put below), when opened in the middle; [] at the end. */
  loadLater() {
    return this._load('later');
  }

  _load(direction) {
    const earlier = direction === 'earlier';
    if (earlier ? this.atStart : this.atEnd) return Promise.resolve([]);
    if (this.loading) return this.loading.then(() => []);
    const query = earlier ? { before: this.first } : { after: this.last };
    this.loading = this.fetchPage(query, this.size)
      .then((page) => {
        this._took(page);
        if (page.length < this.size) {
          if (earlier) this.atStart = true;
          else this.atEnd = true;
        }
        return page;
      })
      .finally(() => {
        this.loading = null;
      });
    return this.loading;
  }
}

/** Whether a scroller (`{scrollTop, scrollHeight, clientHeight}`) is within `edge` of its top. */
export function nearTop(scroller, edge = EDGE) {
  return scroller.scrollTop < edge;
}

export function nearBottom(scroller, edge = EDGE) {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < edge;
}

/**
 * Runs `grow` (which adds content above what is shown) and scrolls so that what was shown
 * stays where it was on screen. `scrollTo(top)` sets the position without animation.
 */
export function keepPosition(scroller, grow, scrollTo = (top) => (scroller.scrollTop = top)) {
  const fromBottom = scroller.scrollHeight - scroller.scrollTop;
  const result = grow();
  scrollTo(scroller.scrollHeight - fromBottom);
  return result;
}

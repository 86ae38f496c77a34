// The narrow layout: the conversations drawer and the Talk / Notes / Reminders / Memory tabs.

export class Layout {
  constructor({ main, drawerToggle, drawerBackdrop, sidebar }) {
    this.main = main;
    this.drawerToggle = drawerToggle;
    this.drawerBackdrop = drawerBackdrop;
    this.sidebar = sidebar;
    drawerToggle.addEventListener('click', () => (main.dataset.drawer === 'open' ? this.closeDrawer() : this.openDrawer()));
    drawerBackdrop.addEventListener('click', () => this.closeDrawer());
    document.querySelectorAll('.tab').forEach((tab) => tab.addEventListener('click', () => this.setView(tab.dataset.view)));
    document.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') this.closeDrawer();
    });
  }

  openDrawer() {
    this.main.dataset.drawer = 'open';
    this.drawerToggle.setAttribute('aria-expanded', 'true');
    this.drawerBackdrop.hidden = false;
    const first = this.sidebar.querySelector('button');
    if (first) first.focus();
  }

  closeDrawer() {
    if (this.main.dataset.drawer !== 'open') return;
    delete this.main.dataset.drawer;
    this.drawerToggle.setAttribute('aria-expanded', 'false');
    this.drawerBackdrop.hidden = true;
  }

  setView(view) {
    this.main.dataset.view = view;
    document.querySelectorAll('.tab').forEach((tab) => {
      tab.setAttribute('aria-selected', String(tab.dataset.view === view));
    });
  }
}

// The hookd dashboard: plain JavaScript, no framework, nothing loaded from
// anywhere but this hookd. Everything a user or a receiver wrote reaches
// the page as text nodes (never as HTML), and the Content-Security-Policy
// that hookd sends allows no inline script or style.
'use strict';

const TOKEN_KEY = 'hookd.token';
const POLL_MS = 2000;
const DELIVERY_PAGE = 100;

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  me: null,          // GET /api/user
  org: null,         // the organization open now
  orgHooks: null,    // its own webhooks
  scopes: null,      // its stacks and environments with webhooks
  orgError: null,
  hook: null,        // the webhook open now
  deliveries: [],
  selected: null,    // the event id of the delivery shown in the drawer
  busy: new Set(),   // event ids being redelivered
  pollTimer: 0,
  polledAt: 0,
  shown: '',         // the deliveries on screen, as JSON
  shownAt: 0,
  generation: 0,     // bumps on every navigation: late answers are dropped
  notice: '',        // a message for the sign-in screen
};

// -- DOM ---------------------------------------------------------------------

/** Creates an element; strings among the children become text nodes. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function $(selector) {
  return document.querySelector(selector);
}

function mount(...nodes) {
  const app = $('#app');
  app.replaceChildren(...nodes.flat());
}

const ICONS = {
  org: 'M3 21V7l9-4 9 4v14M9 21v-6h6v6',
  stack: 'M12 3 3 8l9 5 9-5-9-5ZM3 13l9 5 9-5M3 17.5l9 5 9-5',
  env: 'M4 6h16M4 12h16M4 18h10',
  ping: 'M4 12h4l2-5 4 10 2-5h4',
  redo: 'M20 11a8 8 0 1 0-2.3 5.7M20 4v7h-7',
  out: 'M15 4h4a1 1 0 0 1 1 1v14a1 1 0 0 1-1 1h-4M10 16l4-4-4-4M14 12H4',
  close: 'M6 6l12 12M18 6 6 18',
  back: 'M15 18l-6-6 6-6',
};

/** A small stroked icon (SVG built with DOM calls, no markup strings). */
function icon(name) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'icon');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', ICONS[name]);
  svg.append(path);
  return svg;
}

function logo() {
  return h('span', { class: 'logo' }, h('img', { src: 'icon.svg', alt: '', width: 28, height: 28 }),
    h('span', { class: 'logo-name' }, 'hookd'));
}

function toast(message, kind) {
  const el = h('div', { class: `toast toast-${kind || 'info'}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  $('#toasts').append(el);
  setTimeout(() => el.classList.add('toast-leaving'), 4200);
  setTimeout(() => el.remove(), 4600);
}

// -- API ---------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** The API's message as a sentence. */
function sentence(text) {
  if (!text) return '';
  const s = String(text).trim();
  const first = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

/** What an error answer means, in words. */
function describe(status, message) {
  switch (status) {
    case 401:
      return 'That token was not accepted. Check that you copied all of it, or ask for a new one.';
    case 403:
      return sentence(message) || 'This token has no access here.';
    case 429:
    case 503:
      return `${sentence(message) || 'hookd is busy.'} Try again in a moment.`;
    default:
      return sentence(message) || `hookd answered with status ${status}.`;
  }
}

async function api(method, path, token) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: { Authorization: `token ${token || state.token}` },
      cache: 'no-store',
      credentials: 'omit',
      redirect: 'error',
    });
  } catch (e) {
    throw new ApiError(0, 'hookd did not answer. Check that it is still running and reachable from this browser.');
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (e) {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, describe(response.status, data && data.message));
  return data;
}

/** Every page of a listing that answers with Link: rel="next". */
async function apiAll(path, most) {
  let items = [];
  let next = path;
  while (next && items.length < most) {
    const response = await fetch(next, {
      headers: { Authorization: `token ${state.token}` }, cache: 'no-store', credentials: 'omit', redirect: 'error',
    }).catch(() => { throw new ApiError(0, 'hookd did not answer. Check that it is still running.'); });
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, describe(response.status, data && data.message));
    items = items.concat(data || []);
    const link = response.headers.get('Link') || '';
    const match = /<([^>]+)>;\s*rel="next"/.exec(link);
    next = match && match[1].startsWith('/api/') ? match[1] : null;
  }
  return items;
}

const enc = encodeURIComponent;

function hooksPath(scope) {
  switch (scope.kind) {
    case 'stack':
      return `/api/stacks/${enc(scope.org)}/${enc(scope.project)}/${enc(scope.name)}/hooks`;
    case 'environment':
      return `/api/esc/environments/${enc(scope.org)}/${enc(scope.project)}/${enc(scope.name)}/hooks`;
    default:
      return `/api/orgs/${enc(scope.org)}/hooks`;
  }
}

function hookPath(scope, name) {
  return `${hooksPath(scope)}/${enc(name)}`;
}

// -- Places (the part of the URL after #; never the token) --------------------

function parsePlace() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch (e) {
      return '';
    }
  });
  const place = { org: null, scope: null, hook: null };
  if (parts[0] !== 'orgs' || !parts[1]) return place;
  place.org = parts[1];
  let rest = parts.slice(2);
  place.scope = { kind: 'org', org: place.org };
  if ((rest[0] === 'stacks' || rest[0] === 'environments') && rest.length >= 3) {
    place.scope = { kind: rest[0] === 'stacks' ? 'stack' : 'environment', org: place.org, project: rest[1], name: rest[2] };
    rest = rest.slice(3);
  }
  if (rest[0] === 'hooks' && rest[1]) place.hook = rest[1];
  return place;
}

function placeHash(scope, hook) {
  let hash = `#/orgs/${enc(scope.org)}`;
  if (scope.kind === 'stack') hash += `/stacks/${enc(scope.project)}/${enc(scope.name)}`;
  if (scope.kind === 'environment') hash += `/environments/${enc(scope.project)}/${enc(scope.name)}`;
  if (hook) hash += `/hooks/${enc(hook)}`;
  return hash;
}

function scopeLabel(scope) {
  if (scope.kind === 'org') return scope.org;
  return `${scope.project}/${scope.name}`;
}

function scopeNoun(scope) {
  return { org: 'Organization', stack: 'Stack', environment: 'Environment' }[scope.kind];
}

function sameScope(a, b) {
  return a && b && a.kind === b.kind && a.org === b.org && (a.kind === 'org' || (a.project === b.project && a.name === b.name));
}

function go(hash) {
  if (location.hash === hash) show();
  else location.hash = hash;
}

// -- Formatting ----------------------------------------------------------------

/** A time: the clock alone today, with the date on other days. */
function fmtTime(seconds) {
  if (!seconds) return '—';
  const t = new Date(seconds * 1000);
  const clock = { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' };
  if (t.toDateString() === new Date().toDateString()) return t.toLocaleTimeString(undefined, clock);
  return t.toLocaleString(undefined, { month: 'short', day: 'numeric', ...clock });
}

function fmtAgo(seconds) {
  if (!seconds) return '';
  const d = Math.round(Date.now() / 1000 - seconds);
  if (d < -1) return `in ${fmtSpan(-d)}`;
  if (d < 5) return 'just now';
  return `${fmtSpan(d)} ago`;
}

function fmtSpan(d) {
  if (d < 60) return `${d} s`;
  if (d < 3600) return `${Math.round(d / 60)} min`;
  if (d < 86400) return `${Math.round(d / 360) / 10} h`;
  return `${Math.round(d / 8640) / 10} d`;
}

function fmtDuration(ms) {
  if (ms === undefined || ms === null) return '—';
  if (ms < 1000) return `${ms} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

function shortId(id) {
  return id && id.length > 13 ? `${id.slice(0, 8)}…` : id;
}

/** A body for reading: JSON indented, anything else as it came. */
function prettyBody(text) {
  if (!text) return '';
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch (e) {
    return text;
  }
}

function capitalized(text) {
  const s = String(text).replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** What a delivery was about, in words, read from the body it sent. */
function summarize(d) {
  let p = null;
  try {
    p = JSON.parse(d.payload || '');
  } catch (e) {
    p = null;
  }
  if (!p || typeof p !== 'object') return { title: capitalized(d.kind || 'delivery'), where: '' };
  let where = '';
  if (p.stackName) where = `${p.projectName}/${p.stackName}`;
  else if (p.environmentName) where = `${p.projectName}/${p.environmentName}`;
  let title = '';
  if (d.kind === 'ping') title = 'Ping';
  else if (typeof p.text === 'string') title = p.text; // slack
  else if (p.type === 'message' && Array.isArray(p.attachments)) { // ms_teams
    const body = p.attachments[0] && p.attachments[0].content && p.attachments[0].content.body;
    title = (body && body[0] && body[0].text) || '';
  } else if (d.kind === 'stack_update' || d.kind === 'stack_preview') {
    title = `${p.isPreview ? 'Preview' : capitalized(p.kind || 'update')} ${p.result || ''}`;
  } else if (d.kind === 'stack' && p.action) title = `Stack ${p.action}`;
  else if (d.kind === 'environment' && p.action) title = `Environment ${p.action}`;
  else if (p.status) title = `${capitalized(d.kind)} ${p.status}`;
  else if (p.level) title = `${capitalized(d.kind)} (${p.level})`;
  return { title: (title || capitalized(d.kind || 'delivery')).trim(), where };
}

const STATUS_WORDS = {
  succeeded: 'Succeeded', failed: 'Failed', retrying: 'Retrying', pending: 'Pending',
};

function statusPill(status) {
  const s = STATUS_WORDS[status] ? status : 'unknown';
  return h('span', { class: `pill pill-${s}` }, h('span', { class: 'dot' }), STATUS_WORDS[status] || status || 'Unknown');
}

function codeBadge(code) {
  if (!code) return h('span', { class: 'code code-none', title: 'No HTTP answer came' }, 'none');
  const family = code >= 500 ? '5' : code >= 400 ? '4' : code >= 300 ? '3' : '2';
  return h('span', { class: `code code-${family}xx` }, String(code));
}

function activePill(active) {
  return active ? h('span', { class: 'pill pill-active' }, h('span', { class: 'dot' }), 'Active')
    : h('span', { class: 'pill pill-inactive' }, h('span', { class: 'dot' }), 'Inactive');
}

function eventsOf(hook) {
  const chips = [...(hook.filters || []), ...(hook.groups || []).map((g) => `all ${g}`)];
  if (chips.length === 0) return h('span', { class: 'muted' }, 'Every event');
  return h('span', { class: 'chips' }, chips.map((c) => h('span', { class: 'chip' }, c)));
}

// -- Screens -------------------------------------------------------------------

function renderSignIn() {
  const input = h('input', {
    id: 'token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'hookd_…', required: true,
  });
  const error = h('p', { class: 'form-error', role: 'alert', id: 'signin-error' });
  const button = h('button', { type: 'submit', class: 'button button-primary button-wide' }, 'Sign in');
  if (state.notice) error.textContent = state.notice;
  const form = h('form', {
    class: 'signin-form', method: 'post', novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      const token = input.value.trim();
      if (!token) {
        error.textContent = 'Paste a token first.';
        input.focus();
        return;
      }
      button.disabled = true;
      button.textContent = 'Signing in…';
      error.textContent = '';
      try {
        state.me = await api('GET', '/api/user', token);
        state.token = token;
        state.notice = '';
        sessionStorage.setItem(TOKEN_KEY, token);
        show();
      } catch (err) {
        error.textContent = err.message;
        button.disabled = false;
        button.textContent = 'Sign in';
        input.select();
      }
    },
  },
  h('label', { for: 'token' }, 'Token'),
  input,
  h('p', { class: 'hint' }, 'An admin token or an organization token. It stays in this browser tab only and is sent to this hookd, nowhere else.'),
  error,
  button);
  mount(h('main', { class: 'center-screen' },
    h('section', { class: 'card signin-card' },
      h('div', { class: 'signin-head' }, logo()),
      h('h1', {}, 'Sign in'),
      h('p', { class: 'lede' }, 'Webhooks, their deliveries, and what every receiver answered.'),
      form)));
  input.focus();
}

function topbar(crumbs) {
  const me = state.me || {};
  const who = me.role === 'admin' ? 'Admin token' : `Token “${me.name || ''}”`;
  return h('header', { class: 'topbar' },
    h('a', { href: '#/', class: 'topbar-home', title: 'Organizations' }, logo()),
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, crumbs.map((c, i) => [
      h('span', { class: 'crumb-sep', 'aria-hidden': 'true' }, '/'),
      c.href && i < crumbs.length - 1 ? h('a', { href: c.href }, c.text) : h('span', { class: 'crumb-here' }, c.text),
    ])),
    h('div', { class: 'topbar-right' },
      h('span', { class: 'who' }, who),
      h('button', { type: 'button', class: 'button button-quiet', onclick: signOut }, icon('out'), 'Sign out')));
}

function renderOrgPicker(message) {
  const input = h('input', {
    id: 'org-name', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'Organization name', required: true,
  });
  const error = h('p', { class: 'form-error', role: 'alert' }, message || '');
  const orgs = (state.me && state.me.organizations) || [];
  const isAdmin = state.me && state.me.role === 'admin';
  mount(topbar([{ text: 'Organizations' }]),
    h('main', { class: 'center-screen center-top' },
      h('section', { class: 'card picker-card' },
        h('h1', {}, 'Open an organization'),
        orgs.length > 0 ? [
          h('p', { class: 'lede' }, 'This token belongs to:'),
          h('ul', { class: 'org-list' }, orgs.map((o) => h('li', {},
            h('a', { class: 'org-link', href: placeHash({ kind: 'org', org: o }) },
              h('span', { class: 'org-avatar', 'aria-hidden': 'true' }, o.charAt(0).toUpperCase()),
              h('span', { class: 'org-name' }, o),
              h('span', { class: 'org-go', 'aria-hidden': 'true' }, '→'))))),
        ] : h('p', { class: 'lede' }, isAdmin
          ? 'An admin token sees every organization, but hookd keeps no list of them: type the name of the one to open.'
          : 'Type the name of the organization to open.'),
        h('form', {
          class: 'inline-form', method: 'post', novalidate: true,
          onsubmit: (e) => {
            e.preventDefault();
            const name = input.value.trim();
            if (!/^[A-Za-z0-9._-]{1,100}$/.test(name)) {
              error.textContent = name ? 'An organization name has letters, digits, “.”, “_” and “-” only.' : 'Type an organization name first.';
              input.focus();
              return;
            }
            go(placeHash({ kind: 'org', org: name }));
          },
        },
        h('label', { for: 'org-name' }, orgs.length > 0 ? 'Another organization' : 'Organization'),
        h('div', { class: 'input-row' }, input, h('button', { type: 'submit', class: 'button button-primary' }, 'Open')),
        error))));
  input.focus();
}

function sidebar(place) {
  const org = place.org;
  const here = place.scope;
  const link = (scope, iconName, text, count) => h('a', {
    class: `side-link${sameScope(scope, here) ? ' side-link-current' : ''}`,
    href: placeHash(scope),
    'aria-current': sameScope(scope, here) ? 'page' : null,
  }, icon(iconName), h('span', { class: 'side-text' }, text), count !== null ? h('span', { class: 'count' }, String(count)) : null);

  const stacks = (state.scopes || []).filter((s) => s.kind === 'stack');
  const envs = (state.scopes || []).filter((s) => s.kind === 'environment');
  const section = (title, items, iconName, empty) => h('div', { class: 'side-section' },
    h('h2', { class: 'side-title' }, title),
    state.scopes === null ? h('p', { class: 'side-empty' }, 'Loading…')
      : items.length === 0 ? h('p', { class: 'side-empty' }, empty)
        : items.map((s) => link({ kind: s.kind, org, project: s.projectName, name: s.kind === 'stack' ? s.stackName : s.envName },
          iconName, `${s.projectName}/${s.kind === 'stack' ? s.stackName : s.envName}`, s.hooks)));

  return h('aside', { class: 'sidebar' },
    h('div', { class: 'side-org' },
      h('span', { class: 'org-avatar org-avatar-lg', 'aria-hidden': 'true' }, org.charAt(0).toUpperCase()),
      h('div', {}, h('div', { class: 'side-org-name' }, org), h('div', { class: 'side-org-sub' }, 'Organization'))),
    h('nav', { 'aria-label': 'Scopes' },
      h('div', { class: 'side-section' },
        link({ kind: 'org', org }, 'org', 'Organization webhooks', state.orgHooks ? state.orgHooks.length : null)),
      section('Stacks', stacks, 'stack', 'No stack has webhooks yet.'),
      section('Environments', envs, 'env', 'No environment has webhooks yet.')));
}

function orgCrumbs(place, hookName) {
  const crumbs = [{ text: 'Organizations', href: '#/' }, { text: place.org, href: placeHash({ kind: 'org', org: place.org }) }];
  if (place.scope.kind !== 'org') crumbs.push({ text: scopeLabel(place.scope), href: placeHash(place.scope) });
  if (hookName) crumbs.push({ text: hookName });
  return crumbs;
}

function renderShell(place, content) {
  mount(topbar(orgCrumbs(place, place.hook)),
    h('div', { class: 'layout' }, sidebar(place), h('main', { class: 'content', id: 'content' }, content)));
}

function errorPanel(message, action) {
  return h('div', { class: 'panel-error', role: 'alert' },
    h('strong', {}, 'Something went wrong'), h('p', {}, message), action || null);
}

function emptyState(title, body, code) {
  return h('div', { class: 'empty' },
    h('div', { class: 'empty-art', 'aria-hidden': 'true' }, icon('ping')),
    h('h3', {}, title), h('p', {}, body), code ? h('pre', { class: 'snippet' }, code) : null);
}

function renderHookList(place, hooks) {
  const scope = place.scope;
  const heading = h('div', { class: 'page-head' },
    h('div', {},
      h('p', { class: 'eyebrow' }, scopeNoun(scope)),
      h('h1', {}, scope.kind === 'org' ? `${scope.org} webhooks` : scopeLabel(scope))),
    hooks ? h('p', { class: 'page-meta' }, hooks.length === 1 ? '1 webhook' : `${hooks.length} webhooks`) : null);
  if (!hooks) return [heading, h('div', { class: 'loading' }, 'Loading webhooks…')];
  if (hooks.length === 0) {
    return [heading, emptyState('No webhooks here yet',
      `Create one with the API and it shows up here. For this ${scopeNoun(scope).toLowerCase()}:`,
      `POST ${hooksPath(scope)}\n{"displayName": "Deploys", "payloadUrl": "https://example.com/hook"}`)];
  }
  return [heading, h('ul', { class: 'hook-list' }, hooks.map((hook) => h('li', {},
    h('a', { class: 'hook-card', href: placeHash(scope, hook.name), 'data-hook': hook.name },
      h('div', { class: 'hook-card-main' },
        h('div', { class: 'hook-title' }, h('span', { class: 'hook-display' }, hook.displayName || hook.name),
          h('span', { class: 'hook-name mono' }, hook.name)),
        h('div', { class: 'hook-url mono' }, hook.payloadUrl),
        h('div', { class: 'hook-events' }, eventsOf(hook))),
      h('div', { class: 'hook-card-side' }, activePill(hook.active), h('span', { class: 'chip chip-format' }, hook.format || 'raw'))))))];
}

// -- One webhook and its deliveries ---------------------------------------------

function renderHookDetail(place) {
  const hook = state.hook;
  const scope = place.scope;
  const pingButton = h('button', {
    type: 'button', class: 'button button-primary', id: 'ping',
    onclick: async () => {
      pingButton.disabled = true;
      try {
        const d = await api('POST', `${hookPath(scope, hook.name)}/ping`);
        mergeDelivery(d);
        toast(d.status === 'succeeded' ? `Ping answered ${d.responseCode} in ${fmtDuration(d.duration)}.`
          : `Ping failed: ${d.error || (d.responseCode ? `the receiver answered ${d.responseCode}` : 'no answer')}.`,
        d.status === 'succeeded' ? 'success' : 'error');
      } catch (err) {
        toast(err.message, 'error');
      } finally {
        pingButton.disabled = false;
      }
    },
  }, icon('ping'), 'Ping');

  const facts = h('dl', { class: 'facts' },
    h('div', {}, h('dt', {}, 'Payload URL'), h('dd', { class: 'mono break' }, hook.payloadUrl)),
    h('div', {}, h('dt', {}, 'Format'), h('dd', {}, h('span', { class: 'chip chip-format' }, hook.format || 'raw'))),
    h('div', {}, h('dt', {}, 'Events'), h('dd', {}, eventsOf(hook))),
    h('div', {}, h('dt', {}, 'Signature'), h('dd', {}, hook.hasSecret ? 'Signed with a secret' : h('span', { class: 'muted' }, 'Not signed (no secret)'))));

  return [
    h('div', { class: 'page-head' },
      h('div', {},
        h('p', { class: 'eyebrow' }, `${scopeNoun(scope)} webhook · ${scopeLabel(scope)}`),
        h('h1', {}, hook.displayName || hook.name, ' ', h('span', { class: 'title-name mono' }, hook.name))),
      h('div', { class: 'page-actions' }, activePill(hook.active), pingButton)),
    h('section', { class: 'card facts-card' }, facts),
    h('section', { class: 'card deliveries-card' },
      h('div', { class: 'card-head' },
        h('h2', {}, 'Deliveries'),
        h('span', { class: 'live', id: 'live', title: `Refreshed every ${POLL_MS / 1000} s` }, h('span', { class: 'live-dot' }), 'Live')),
      h('div', { id: 'deliveries' }, deliveriesTable(place))),
    h('div', { id: 'drawer-slot' }, drawer(place)),
  ];
}

function deliveriesTable(place) {
  const list = state.deliveries;
  if (list === null) return h('div', { class: 'loading' }, 'Loading deliveries…');
  if (list.length === 0) {
    const hook = state.hook || {};
    return emptyState('No deliveries yet', hook.active === false
      ? 'This webhook is inactive: it takes no events until it is made active. A ping still reaches it, and shows up here.'
      : `Events this webhook takes show up here as they are delivered. Send a ping to try the endpoint, or post an event to /api/orgs/${place.org}/events.`);
  }
  const rows = list.map((d) => {
    const busy = state.busy.has(d.id);
    return h('tr', {
      class: `delivery-row${state.selected === d.id ? ' selected' : ''}`,
      'data-event-id': d.id,
      tabindex: '0',
      onclick: () => select(place, d.id),
      onkeydown: (e) => { if (e.key === 'Enter') select(place, d.id); },
    },
    h('td', { class: 'event-cell' }, (() => {
      const what = summarize(d);
      return [h('div', { class: 'event-title', title: what.title }, what.title),
        h('div', { class: 'sub' }, h('span', { class: 'kind' }, d.kind), what.where ? ` · ${what.where}` : '',
          ' · ', h('span', { class: 'mono', title: d.id }, shortId(d.id)))];
    })()),
    h('td', {}, statusPill(d.status), d.error ? h('div', { class: 'sub error-text', title: d.error }, d.error) : null),
    h('td', { class: 'num attempts' }, String(d.attempts ?? 0)),
    h('td', {}, codeBadge(d.responseCode)),
    h('td', { class: 'num' }, fmtDuration(d.duration)),
    h('td', { class: 'when' }, h('div', {}, fmtTime(d.timestamp)), h('div', { class: 'sub' }, fmtAgo(d.timestamp))),
    h('td', { class: 'when' }, d.nextAttemptAt ? [h('div', {}, fmtTime(d.nextAttemptAt)), h('div', { class: 'sub' }, fmtAgo(d.nextAttemptAt))]
      : h('span', { class: 'muted' }, '—')),
    h('td', { class: 'actions' }, h('button', {
      type: 'button', class: 'button button-small', disabled: busy,
      onclick: (e) => { e.stopPropagation(); redeliver(place, d.id); },
    }, icon('redo'), busy ? 'Sending…' : 'Redeliver')));
  });
  return h('div', { class: 'table-wrap' }, h('table', { class: 'deliveries' },
    h('thead', {}, h('tr', {},
      ['Event', 'Status', 'Attempts', 'Response', 'Duration', 'Last attempt', 'Next attempt', ''].map((t, i) => h('th', { class: i === 2 || i === 4 ? 'num' : null, scope: 'col' }, t)))),
    h('tbody', {}, rows)),
  list.length >= DELIVERY_PAGE ? h('p', { class: 'table-note' }, `Showing the newest ${DELIVERY_PAGE} deliveries.`) : null);
}

function headerLines(text) {
  if (!text) return h('p', { class: 'muted' }, 'None');
  return h('pre', { class: 'code-block' }, text.replace(/\r\n$/, '').replace(/\r\n/g, '\n'));
}

function drawer(place) {
  const d = state.deliveries && state.deliveries.find((x) => x.id === state.selected);
  if (!d) return null;
  const busy = state.busy.has(d.id);
  const close = () => { state.selected = null; refreshDeliveries(place); };
  return h('div', { class: 'drawer-backdrop', onclick: (e) => { if (e.target === e.currentTarget) close(); } },
    h('aside', { class: 'drawer', role: 'dialog', 'aria-label': `Delivery ${d.id}` },
      h('div', { class: 'drawer-head' },
        h('div', {},
          h('p', { class: 'eyebrow' }, d.kind),
          h('h2', { class: 'drawer-title' }, summarize(d).title),
          h('p', { class: 'mono drawer-id' }, d.id)),
        h('button', { type: 'button', class: 'button button-icon', title: 'Close', 'aria-label': 'Close', onclick: close }, icon('close'))),
      h('div', { class: 'drawer-summary' },
        statusPill(d.status), codeBadge(d.responseCode),
        h('span', { class: 'muted' }, `${d.attempts ?? 0} attempt${d.attempts === 1 ? '' : 's'} · ${fmtDuration(d.duration)}`),
        h('button', {
          type: 'button', class: 'button button-small drawer-redeliver', disabled: busy,
          onclick: () => redeliver(place, d.id),
        }, icon('redo'), busy ? 'Sending…' : 'Redeliver')),
      h('dl', { class: 'facts facts-tight' },
        h('div', {}, h('dt', {}, 'Last attempt'), h('dd', {}, `${fmtTime(d.timestamp)} (${fmtAgo(d.timestamp)})`)),
        h('div', {}, h('dt', {}, 'Next attempt'), h('dd', {}, d.nextAttemptAt ? `${fmtTime(d.nextAttemptAt)} (${fmtAgo(d.nextAttemptAt)})` : 'None scheduled')),
        h('div', {}, h('dt', {}, 'Sent to'), h('dd', { class: 'mono break' }, d.requestUrl || '—')),
        d.error ? h('div', {}, h('dt', {}, 'Error'), h('dd', { class: 'error-text' }, d.error)) : null),
      h('h3', { class: 'drawer-section' }, 'Request'),
      h('h4', {}, 'Headers'), headerLines(d.requestHeaders),
      h('h4', {}, 'Body'), d.payload ? h('pre', { class: 'code-block' }, prettyBody(d.payload)) : h('p', { class: 'muted' }, 'Empty'),
      h('h3', { class: 'drawer-section' }, 'Response'),
      d.responseCode ? [
        h('h4', {}, 'Headers'), headerLines(d.responseHeaders),
        h('h4', {}, 'Body'), d.responseBody ? h('pre', { class: 'code-block' }, prettyBody(d.responseBody)) : h('p', { class: 'muted' }, 'Empty'),
      ] : h('p', { class: 'muted' }, d.status === 'pending' ? 'Not attempted yet.' : 'No HTTP answer came.')));
}

function select(place, id) {
  state.selected = id;
  refreshDeliveries(place);
}

/** Puts the deliveries table and the drawer in step with the state. */
function refreshDeliveries(place) {
  const table = $('#deliveries');
  const slot = $('#drawer-slot');
  if (!table || !slot) return;
  const scrollTop = slot.querySelector('.drawer') ? slot.querySelector('.drawer').scrollTop : 0;
  table.replaceChildren(deliveriesTable(place));
  const d = drawer(place);
  slot.replaceChildren(...(d ? [d] : []));
  if (d) d.querySelector('.drawer').scrollTop = scrollTop;
}

function mergeDelivery(d) {
  if (!d || !d.id || !state.deliveries) return;
  const i = state.deliveries.findIndex((x) => x.id === d.id);
  if (i >= 0) state.deliveries[i] = d;
  else state.deliveries.unshift(d);
  refreshDeliveries(parsePlace());
}

async function redeliver(place, id) {
  state.busy.add(id);
  refreshDeliveries(place);
  try {
    const d = await api('POST', `${hookPath(place.scope, place.hook)}/deliveries/${enc(id)}/redeliver`);
    state.busy.delete(id);
    mergeDelivery(d);
    toast(d.status === 'succeeded' ? `Redelivered: the receiver answered ${d.responseCode}.`
      : `Redelivery failed: ${d.error || (d.responseCode ? `the receiver answered ${d.responseCode}` : 'no answer')}.`,
    d.status === 'succeeded' ? 'success' : 'error');
  } catch (err) {
    state.busy.delete(id);
    refreshDeliveries(place);
    toast(err.message, 'error');
  }
}

async function poll(place, generation) {
  // A hidden tab asks for nothing; it catches up when shown again.
  if (document.hidden) {
    state.pollTimer = setTimeout(() => poll(place, generation), POLL_MS);
    return;
  }
  try {
    const list = await api('GET', `${hookPath(place.scope, place.hook)}/deliveries?limit=${DELIVERY_PAGE}`);
    if (generation !== state.generation) return;
    state.polledAt = Date.now();
    // Redrawn when something changed (or to age the times shown), so a
    // row under the pointer is not replaced every time.
    const signature = JSON.stringify(list);
    if (signature !== state.shown || Date.now() - state.shownAt > 15000) {
      state.deliveries = list || [];
      state.shown = signature;
      state.shownAt = Date.now();
      refreshDeliveries(place);
    }
    const live = $('#live');
    if (live) {
      live.classList.remove('live-stale');
      live.title = `Refreshed every ${POLL_MS / 1000} s`;
    }
  } catch (err) {
    if (generation !== state.generation) return;
    if (err.status === 401) return signOut(null, 'That token is no longer accepted. Sign in again.');
    if (err.status === 404 || err.status === 403) {
      $('#content').replaceChildren(errorPanel(err.message,
        h('a', { class: 'button', href: placeHash(place.scope) }, icon('back'), `Back to ${scopeLabel(place.scope)}`)));
      return undefined;
    }
    const live = $('#live');
    if (live) {
      live.classList.add('live-stale');
      live.title = err.message;
    }
  }
  if (generation === state.generation) state.pollTimer = setTimeout(() => poll(place, generation), POLL_MS);
}

// -- Navigation ------------------------------------------------------------------

function stopPolling() {
  clearTimeout(state.pollTimer);
  state.pollTimer = 0;
}

async function loadOrg(org, generation) {
  state.org = org;
  state.orgHooks = null;
  state.scopes = null;
  state.orgError = null;
  try {
    const [hooks, scopes] = await Promise.all([
      apiAll(`/api/orgs/${enc(org)}/hooks`, 10000),
      apiAll(`/api/orgs/${enc(org)}/scopes`, 10000),
    ]);
    if (state.org !== org) return;
    state.orgHooks = hooks;
    state.scopes = scopes;
  } catch (err) {
    state.orgError = err;
    state.org = null;
    throw err;
  }
}

/** Reads the organization's scopes and webhooks again, for the sidebar. */
async function refreshSidebar(place, generation) {
  try {
    const [hooks, scopes] = await Promise.all([
      apiAll(`/api/orgs/${enc(place.org)}/hooks`, 10000),
      apiAll(`/api/orgs/${enc(place.org)}/scopes`, 10000),
    ]);
    if (generation !== state.generation || state.org !== place.org) return;
    state.orgHooks = hooks;
    state.scopes = scopes;
    const old = $('.sidebar');
    if (old) old.replaceWith(sidebar(place));
  } catch (err) {
    // The page itself reports what fails; the sidebar keeps what it had.
  }
}

async function show() {
  stopPolling();
  const generation = ++state.generation;
  if (!state.token) return renderSignIn();
  try {
    if (!state.me) state.me = await api('GET', '/api/user');
  } catch (err) {
    if (err.status === 401) return signOut(null, 'That token is no longer accepted. Sign in again.');
    mount(topbar([{ text: 'Organizations' }]), h('main', { class: 'center-screen' }, errorPanel(err.message,
      h('button', { type: 'button', class: 'button', onclick: show }, 'Try again'))));
    return undefined;
  }
  if (generation !== state.generation) return undefined;
  const place = parsePlace();
  if (!place.org) return renderOrgPicker();

  if (state.org === place.org) {
    refreshSidebar(place, generation);
  } else {
    renderShell(place, h('div', { class: 'loading' }, `Opening ${place.org}…`));
    try {
      await loadOrg(place.org, generation);
    } catch (err) {
      if (generation !== state.generation) return undefined;
      if (err.status === 401) return signOut(null, 'That token is no longer accepted. Sign in again.');
      return renderOrgPicker(err.status === 403 ? `${err.message} Open one of this token’s organizations instead.` : err.message);
    }
    if (generation !== state.generation) return undefined;
  }

  if (!place.hook) {
    state.hook = null;
    renderShell(place, renderHookList(place, place.scope.kind === 'org' ? state.orgHooks : null));
    try {
      const hooks = await apiAll(hooksPath(place.scope), 10000);
      if (generation !== state.generation) return undefined;
      $('#content').replaceChildren(...renderHookList(place, hooks));
    } catch (err) {
      if (generation !== state.generation) return undefined;
      $('#content').replaceChildren(errorPanel(err.message));
    }
    return undefined;
  }

  renderShell(place, h('div', { class: 'loading' }, 'Loading the webhook…'));
  try {
    const hook = await api('GET', hookPath(place.scope, place.hook));
    if (generation !== state.generation) return undefined;
    if (!state.hook || state.hook.name !== hook.name || !sameScope(state.hookScope, place.scope)) {
      state.deliveries = null;
      state.selected = null;
      state.shown = '';
    }
    state.hookScope = place.scope;
    state.hook = hook;
  } catch (err) {
    if (generation !== state.generation) return undefined;
    $('#content').replaceChildren(errorPanel(err.message,
      h('a', { class: 'button', href: placeHash(place.scope) }, icon('back'), `Back to ${scopeLabel(place.scope)}`)));
    return undefined;
  }
  $('#content').replaceChildren(...renderHookDetail(place));
  poll(place, generation);
  return undefined;
}

function signOut(event, notice) {
  stopPolling();
  sessionStorage.removeItem(TOKEN_KEY);
  Object.assign(state, {
    token: '', me: null, org: null, orgHooks: null, scopes: null, hook: null, deliveries: [], selected: null,
  });
  state.generation++;
  state.notice = notice || '';
  if (location.hash && location.hash !== '#/') history.replaceState(null, '', location.pathname);
  renderSignIn();
}

document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && state.selected) {
    state.selected = null;
    refreshDeliveries(parsePlace());
  }
});
window.addEventListener('hashchange', show);
show();

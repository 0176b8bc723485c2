// reelforge dashboard: one module, no dependencies, no build step (docs/dashboard.md).
// Talks only to /api/v1 on its own origin. The key lives in sessionStorage only.
// Everything that comes from the API is put on the page as text (textContent, text
// nodes, attribute values), never parsed as HTML.

const KEY = 'reelforge.key';
const LANGUAGES = [
  ['en', 'English'], ['ja', 'Japanese'], ['ko', 'Korean'], ['zh', 'Chinese'],
  ['es', 'Spanish'], ['fr', 'French'], ['de', 'German'], ['pt', 'Portuguese'],
];
const PLATFORMS = [
  ['youtube_shorts', 'YouTube Shorts'], ['tiktok', 'TikTok'],
  ['instagram_reels', 'Instagram Reels'], ['youtube', 'YouTube'],
];
const STATUSES = ['collecting', 'processing', 'scripting', 'voiceover', 'rendering', 'review', 'published', 'failed'];
const SETTLED = new Set(['review', 'published', 'failed']);
const POLL_MS = 1500;
// What one video is estimated at before it exists: a Video Studio render of a typical
// 40-second script with voiceover, AI planning and 3 captured screens (docs/pricing.md).
const ESTIMATE_JOB = { kind: 'video_studio', duration_seconds: 40, ai_analysis: true, images: 3, voiceover: true };

const main = document.getElementById('main');
const nav = document.getElementById('nav');
let pollTimer = null;
let generation = 0; // bumped on every navigation: stale async work stops drawing.

const langName = (code) => (LANGUAGES.find(([c]) => c === code) || [code, code])[1];
const platformName = (code) => (PLATFORMS.find(([c]) => c === code) || [code, code])[1];

/** An element; strings and numbers among `children` become text nodes. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

function time(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

function getKey() { return sessionStorage.getItem(KEY); }

class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

/** A call to the public API with the session's key; throws ApiError with the API's message. */
async function api(method, path, body, headers = {}) {
  const key = getKey();
  const init = { method, headers: { ...headers }, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' };
  if (key) init.headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(`/api/v1${path}`, init);
  } catch (e) {
    throw new ApiError('The server could not be reached', 0);
  }
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) throw new ApiError((data && data.error) || `HTTP ${r.status}`, r.status);
  return data;
}

function stopPolling() {
  if (pollTimer !== null) clearTimeout(pollTimer);
  pollTimer = null;
}

function poll(gen, fn) {
  stopPolling();
  pollTimer = setTimeout(async () => {
    if (gen !== generation) return;
    try { await fn(); } catch (e) { /* shown by fn */ }
  }, POLL_MS);
}

function show(...children) {
  main.replaceChildren(...children.flat().filter(Boolean));
}

function errorBox() { return h('p', { class: 'error', role: 'alert' }); }
function statusBox() { return h('p', { class: 'note', role: 'status' }); }

function badge(status) { return h('span', { class: `badge ${status}` }, status); }

// ---------------------------------------------------------------- sign in / out

function signInView() {
  nav.hidden = true;
  const input = h('input', { id: 'key', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true });
  const err = errorBox();
  const form = h('form', { class: 'card', novalidate: true },
    h('label', { for: 'key' }, 'API key'),
    input,
    h('p', { class: 'muted' }, 'The key stays in this tab only (session storage) and is forgotten when you sign out or close the tab.'),
    h('button', { type: 'submit' }, 'Sign in'),
    err);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    const key = input.value.trim();
    if (!key) { err.textContent = 'Enter an API key'; return; }
    sessionStorage.setItem(KEY, key);
    try {
      await api('GET', '/account');
      input.value = '';
      if (!location.hash || location.hash === '#/' || location.hash === '#/signin') location.hash = '#/campaigns';
      else route();
    } catch (e) {
      sessionStorage.removeItem(KEY);
      err.textContent = e.message;
    }
  });
  show(h('h1', {}, 'Sign in'), form);
  input.focus();
}

function signOut() {
  stopPolling();
  sessionStorage.clear();
  location.hash = '#/';
  route();
}

// ---------------------------------------------------------------- campaigns list

async function campaignsView(gen) {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const filter = params.get('status') || '';
  const select = h('select', { id: 'status-filter' },
    h('option', { value: '' }, 'All'),
    STATUSES.map((s) => h('option', { value: s, selected: s === filter }, s)));
  select.addEventListener('change', () => {
    location.hash = select.value ? `#/campaigns?status=${encodeURIComponent(select.value)}` : '#/campaigns';
  });
  const list = h('ul', { class: 'plain campaigns', 'aria-live': 'polite' });
  const err = errorBox();
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'More campaigns');
  let cursor = null;
  const shown = [];
  show(
    h('div', { class: 'row' }, h('h1', {}, 'Campaigns'), h('a', { href: '#/new', class: 'button' }, 'New campaign')),
    h('div', { class: 'card' },
      h('label', { for: 'status-filter' }, 'Status'), select,
      list, more, err),
  );

  const row = (c) => h('li', {},
    h('a', { href: `#/campaigns/${encodeURIComponent(c.campaign_id)}` }, c.title || c.campaign_id),
    h('span', {}, badge(c.status), ' ', h('span', { class: 'muted' }, time(c.created_at))));

  const draw = () => {
    list.replaceChildren(...shown.map(row));
    if (!shown.length) list.append(h('li', { class: 'muted' }, 'No campaigns yet.'));
    more.hidden = !cursor;
  };
  const load = async (append) => {
    const q = new URLSearchParams({ limit: '20' });
    if (filter) q.set('status', filter);
    if (append && cursor) q.set('cursor', cursor);
    const page = await api('GET', `/campaigns?${q}`);
    if (gen !== generation) return;
    if (!append) shown.length = 0;
    shown.push(...(page.campaigns || []));
    cursor = page.next_cursor || null;
    draw();
  };
  const refresh = async () => {
    try {
      await load(false);
      err.textContent = '';
    } catch (e) { err.textContent = e.message; }
    if (gen === generation && shown.some((c) => !SETTLED.has(c.status))) poll(gen, refresh);
  };
  more.addEventListener('click', async () => {
    try { await load(true); } catch (e) { err.textContent = e.message; }
  });
  await refresh();
}

// ---------------------------------------------------------------- new campaign

function firstArray(obj) {
  if (!obj) return [];
  for (const v of Object.values(obj)) if (Array.isArray(v)) return v;
  return [];
}

async function newCampaignView(gen) {
  const err = errorBox();
  show(h('h1', {}, 'New campaign'), h('p', {}, 'Loading your plan…'), err);
  let account, playlists = [], perVideo = null;
  try {
    account = await api('GET', '/account');
    playlists = firstArray(await api('GET', '/playlists').catch(() => null));
    perVideo = (await api('POST', '/estimate', ESTIMATE_JOB)).credits;
  } catch (e) {
    if (!account) { err.textContent = e.message; return; }
  }
  if (gen !== generation) return;
  const cap = account.plan.languages_per_campaign || LANGUAGES.length;
  const remaining = account.usage.videos_remaining;

  const url = h('input', { id: 'url', type: 'url', required: true, placeholder: 'https://example.com/product', autocomplete: 'url' });
  const title = h('input', { id: 'title', type: 'text', maxlength: '200' });
  const langBoxes = LANGUAGES.map(([code, name]) => h('input', { type: 'checkbox', value: code, checked: code === 'en' }));
  const langSet = h('fieldset', {}, h('legend', {}, `Languages (up to ${cap} on the ${account.plan.name} plan)`),
    LANGUAGES.map(([, name], i) => h('label', {}, langBoxes[i], name)));
  const platBoxes = PLATFORMS.map(([code]) => h('input', { type: 'checkbox', value: code, checked: code === 'youtube_shorts' }));
  const platSet = h('fieldset', {}, h('legend', {}, 'Platforms'),
    PLATFORMS.map(([, name], i) => h('label', {}, platBoxes[i], name)));
  const playlist = h('select', { id: 'playlist' }, h('option', { value: '' }, 'None'),
    playlists.map((p) => h('option', { value: p.playlist_id || p.id }, p.name || p.profile_name || p.playlist_id || p.id)));
  const webhook = h('input', { id: 'webhook', type: 'url', placeholder: 'https://example.com/hooks' });
  const estimate = h('p', { id: 'estimate', role: 'status', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit' }, 'Create campaign');

  const checked = (boxes) => boxes.filter((b) => b.checked).map((b) => b.value);
  const update = () => {
    const langs = checked(langBoxes).length;
    langBoxes.forEach((b) => { b.disabled = !b.checked && langs >= cap; });
    const videos = langs * checked(platBoxes).length;
    const credits = perVideo === null ? 'unknown' : `about ${videos * perVideo}`;
    estimate.textContent = `Estimated credits: ${credits} (${videos} video${videos === 1 ? '' : 's'}` +
      `${perVideo === null ? '' : ` × ${perVideo} for a 40-second video`}). ` +
      `Quota left this month: ${remaining} of ${account.plan.videos_per_month} videos.`;
    submit.disabled = videos === 0 || videos > remaining;
  };
  [...langBoxes, ...platBoxes].forEach((b) => b.addEventListener('change', update));

  const form = h('form', { class: 'card', novalidate: true },
    h('label', { for: 'url' }, 'Product URL'), url,
    h('label', { for: 'title' }, 'Title (optional)'), title,
    langSet, platSet,
    h('label', { for: 'playlist' }, 'Playlist'), playlist,
    h('label', { for: 'webhook' }, 'Webhook URL (optional)'), webhook,
    estimate, submit, err);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    const body = { url: url.value.trim(), languages: checked(langBoxes), platforms: checked(platBoxes) };
    if (title.value.trim()) body.title = title.value.trim();
    if (playlist.value) body.playlist_id = playlist.value;
    if (webhook.value.trim()) body.webhook_url = webhook.value.trim();
    submit.disabled = true;
    try {
      const created = await api('POST', '/campaigns', body, { 'Idempotency-Key': crypto.randomUUID() });
      location.hash = `#/campaigns/${encodeURIComponent(created.campaign_id)}`;
    } catch (e) {
      err.textContent = e.message;
      update();
    }
  });
  show(h('h1', {}, 'New campaign'), form);
  update();
  url.focus();
}

// ---------------------------------------------------------------- one campaign

/** What a redraw depends on: the campaign without its link signatures (fresh on every GET). */
function signature(c, deliveries, destinations) {
  return JSON.stringify([c, deliveries, destinations], (k, v) =>
    (k === 'file_url' || k === 'thumbnail_url') && typeof v === 'string' ? v.split('?')[0] : v);
}

function busy(c) {
  if (!SETTLED.has(c.status)) return true;
  return (c.videos || []).some((v) => v.status === 'rendering' || v.status === 'queued' ||
    (v.publications || []).some((p) => p.status !== 'published' && p.status !== 'failed'));
}

async function campaignView(gen, id) {
  const err = errorBox();
  show(h('p', {}, 'Loading…'), err);
  let last = null;
  let editing = 0; // open script editors: no redraw under the user's typing
  let destinations = null;

  const refresh = async () => {
    let c, deliveries;
    try {
      c = await api('GET', `/campaigns/${encodeURIComponent(id)}`);
      deliveries = (await api('GET', `/campaigns/${encodeURIComponent(id)}/webhook-deliveries`)).deliveries || [];
      if (destinations === null) destinations = (await api('GET', '/destinations')).destinations || [];
    } catch (e) {
      if (gen !== generation) return;
      if (!last) show(h('h1', {}, 'Campaign'), err);
      err.textContent = e.message;
      if (e.status !== 404) poll(gen, refresh);
      return;
    }
    if (gen !== generation) return;
    const sig = signature(c, deliveries, destinations);
    if (sig !== last && editing === 0) {
      last = sig;
      draw(c, deliveries);
    }
    if (busy(c)) poll(gen, refresh);
  };

  const draw = (c, deliveries) => {
    const parts = [
      h('h1', {}, c.title),
      h('p', { class: 'row' }, badge(c.status), h('span', { class: 'muted' }, c.url)),
    ];
    if (c.status === 'failed') {
      parts.push(h('p', { class: 'error', role: 'alert' },
        `Failed in ${c.failed_stage || 'an unknown stage'}: ${c.error || 'no error was recorded'}`));
    }
    parts.push(h('h2', {}, 'Timeline'), timeline(c));
    parts.push(h('h2', {}, 'Videos'));
    const vids = c.videos || [];
    parts.push(vids.length ? h('div', { class: 'videos' }, vids.map((v) => videoCard(c, v))) : h('p', { class: 'muted' }, 'No videos.'));
    if (c.status === 'review') parts.push(publishForm(c));
    parts.push(deliveriesSection(c, deliveries));
    show(parts);
  };

  const timeline = (c) => {
    const steps = c.timeline || [{ status: c.status, at: c.created_at }];
    return h('ol', { class: 'timeline', 'aria-label': 'Stages' }, steps.map((s, i) => {
      const next = steps[i + 1];
      const secs = next ? ((new Date(next.at) - new Date(s.at)) / 1000).toFixed(1) : null;
      const at = new Date(s.at);
      return h('li', {}, h('strong', {}, s.status),
        h('time', { datetime: s.at, title: time(s.at) }, Number.isNaN(at.getTime()) ? String(s.at) : at.toLocaleTimeString()),
        secs !== null ? h('span', { class: 'muted' }, ` (${secs} s)`) : null);
    }));
  };

  const videoCard = (c, v) => {
    const name = `${langName(v.language)} · ${platformName(v.platform)}`;
    const card = h('article', { class: 'card', 'aria-label': name });
    const meta = h('dl', { class: 'video-meta' },
      h('dt', {}, 'Status'), h('dd', {}, badge(v.status)),
      h('dt', {}, 'Duration'), h('dd', {}, v.duration_seconds != null ? `${v.duration_seconds.toFixed(1)} s` : '—'),
      h('dt', {}, 'Credits'), h('dd', {}, v.credits_cost != null ? String(v.credits_cost) : '—'),
      h('dt', {}, 'Script source'), h('dd', {}, v.script_source || '—'));
    const player = v.file_url
      ? h('video', { controls: true, preload: 'metadata', playsinline: true, src: v.file_url, poster: v.thumbnail_url || undefined, 'aria-label': `Video: ${name}` })
      : h('p', { class: 'muted' }, v.status === 'failed' ? 'This video failed.' : 'Not rendered yet.');
    const script = h('p', { class: 'script' }, v.script || '');
    card.append(h('h3', {}, name), player, meta, script);
    if (v.status === 'rendering' && c.status === 'review') {
      card.append(h('p', { role: 'status' }, 'Re-rendering the edited script…'), h('progress', { 'aria-label': `Re-rendering ${name}` }));
    }
    if (c.status === 'review' && v.status === 'ready') {
      const msg = errorBox();
      const edit = h('button', { type: 'button', class: 'secondary' }, 'Edit script');
      edit.addEventListener('click', () => {
        editing += 1;
        const id = `script-${v.id}`;
        const area = h('textarea', { id }, v.script || '');
        const save = h('button', { type: 'submit' }, 'Save script');
        const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
        const form = h('form', {}, h('label', { for: id }, `Script for ${name}`), area, save, cancel, msg);
        const close = () => { editing -= 1; form.replaceWith(edit); };
        cancel.addEventListener('click', () => { close(); edit.focus(); last = null; refresh(); });
        form.addEventListener('submit', async (ev) => {
          ev.preventDefault();
          save.disabled = true;
          try {
            await api('PUT', `/campaigns/${encodeURIComponent(c.campaign_id)}/videos/${encodeURIComponent(v.id)}/script`, { script: area.value });
            close();
            last = null;
            await refresh();
          } catch (e) {
            msg.textContent = e.message;
            save.disabled = false;
          }
        });
        edit.replaceWith(form);
        area.focus();
      });
      card.append(edit, msg);
    }
    if (v.publications && v.publications.length) {
      card.append(h('h4', {}, 'Publications'), h('ul', {}, v.publications.map((p) => h('li', {},
        `${p.provider}: `, badge(p.status), ' ',
        p.url && /^https?:\/\//.test(p.url) ? h('a', { href: p.url, rel: 'noopener noreferrer', target: '_blank' }, p.url) : null,
        p.error ? h('span', { class: 'error' }, p.error) : null))));
    }
    return card;
  };

  const publishForm = (c) => {
    const msg = errorBox();
    const ready = (c.videos || []).filter((v) => v.status === 'ready');
    const vBoxes = ready.map((v) => h('input', { type: 'checkbox', value: v.id, checked: true }));
    const dBoxes = (destinations || []).map((d) => h('input', { type: 'checkbox', value: d.destination_id }));
    const button = h('button', { type: 'submit' }, 'Publish');
    const form = h('form', { class: 'card' },
      h('h2', {}, 'Publish'),
      h('fieldset', {}, h('legend', {}, 'Videos'),
        ready.map((v, i) => h('label', {}, vBoxes[i], `${langName(v.language)} · ${platformName(v.platform)}`))),
      h('fieldset', {}, h('legend', {}, 'Destinations'),
        dBoxes.length ? (destinations || []).map((d, i) => h('label', {}, dBoxes[i], `${d.name} (${d.provider})`))
          : h('p', { class: 'muted' }, 'No destinations yet: publishing marks the campaign published without uploading.')),
      button, msg);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      button.disabled = true;
      msg.textContent = '';
      const body = { video_ids: vBoxes.filter((b) => b.checked).map((b) => b.value) };
      const dests = dBoxes.filter((b) => b.checked).map((b) => b.value);
      if (dests.length) body.destinations = dests;
      try {
        await api('POST', `/campaigns/${encodeURIComponent(c.campaign_id)}/publish`, body);
        last = null;
        await refresh();
      } catch (e) {
        msg.textContent = e.message;
        button.disabled = false;
      }
    });
    return form;
  };

  const deliveriesSection = (c, deliveries) => {
    const note = statusBox();
    const redeliver = h('button', { type: 'button', class: 'secondary' }, 'Redeliver');
    redeliver.addEventListener('click', async () => {
      redeliver.disabled = true;
      note.textContent = '';
      try {
        const r = await api('POST', `/campaigns/${encodeURIComponent(c.campaign_id)}/webhook-deliveries/redeliver`);
        note.textContent = `Redelivery queued (${r.state}).`;
        last = null;
        poll(gen, refresh);
      } catch (e) {
        note.textContent = e.message;
      }
      redeliver.disabled = false;
    });
    const rows = [];
    for (const d of deliveries) {
      const attempts = d.attempts || [];
      if (!attempts.length) rows.push(h('tr', {}, h('td', {}, d.event), h('td', {}, d.state), h('td', {}, '—'), h('td', {}, '')));
      for (const a of attempts) {
        rows.push(h('tr', {}, h('td', {}, d.event), h('td', {}, d.state),
          h('td', {}, `#${a.attempt} ${time(a.at)}`),
          h('td', {}, a.status_code != null ? `HTTP ${a.status_code}` : (a.error || 'pending'),
            a.latency_ms != null ? ` · ${a.latency_ms} ms` : '')));
      }
    }
    return h('section', { class: 'card', 'aria-labelledby': 'deliveries-h' },
      h('h2', { id: 'deliveries-h' }, 'Webhook deliveries'),
      rows.length
        ? h('div', { class: 'table-wrap' }, h('table', {},
          h('thead', {}, h('tr', {}, h('th', {}, 'Event'), h('th', {}, 'State'), h('th', {}, 'Attempt'), h('th', {}, 'Result'))),
          h('tbody', {}, rows)))
        : h('p', { class: 'muted' }, 'No deliveries yet (a campaign without a webhook URL has none).'),
      redeliver, note);
  };

  await refresh();
}

// ---------------------------------------------------------------- account

async function accountView(gen) {
  const err = errorBox();
  show(h('h1', {}, 'Account'), err);
  let a, fonts;
  try {
    a = await api('GET', '/account');
    fonts = firstArray(await api('GET', '/font-profiles'));
  } catch (e) { err.textContent = e.message; return; }
  if (gen !== generation) return;
  const p = a.plan, u = a.usage;
  const plan = h('section', { class: 'card' }, h('h2', {}, 'Plan'),
    h('dl', { class: 'video-meta' },
      h('dt', {}, 'Plan'), h('dd', {}, p.name),
      h('dt', {}, 'Videos a month'), h('dd', {}, String(p.videos_per_month)),
      h('dt', {}, 'Languages'), h('dd', {}, String(p.languages_per_campaign)),
      h('dt', {}, 'Creates a minute'), h('dd', {}, String(p.creates_per_minute))));
  const usage = h('section', { class: 'card' }, h('h2', {}, 'Usage this month'),
    h('p', {}, `${u.videos_used} videos used, ${u.videos_remaining} left (${u.period}).`));
  const keys = h('section', { class: 'card' }, h('h2', {}, 'Keys'),
    h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', {}, 'Key'), h('th', {}, 'Created'), h('th', {}, 'State'))),
      h('tbody', {}, (a.keys || []).map((k) => h('tr', {}, h('td', {}, h('code', {}, k.display)),
        h('td', {}, new Date(k.created_at).toLocaleDateString()), h('td', {}, k.revoked_at ? 'revoked' : 'active')))))));
  show(h('h1', {}, 'Account'), plan, usage, keys, fontProfiles(gen, fonts));
}

function fontProfiles(gen, fonts) {
  const list = h('ul', {}, fonts.map((f) => h('li', {}, `${f.profile_name}: ${f.name}, ${f.size} px, ${f.caption_style_color}`)));
  if (!fonts.length) list.append(h('li', { class: 'muted' }, 'No font profiles yet.'));
  const name = h('input', { id: 'fp-name', type: 'text', required: true, value: 'Brand captions' });
  const family = h('input', { id: 'fp-family', type: 'text', value: 'Noto Sans' });
  const size = h('input', { id: 'fp-size', type: 'number', min: '8', max: '200', value: '72' });
  const color = h('input', { id: 'fp-color', type: 'color', value: '#ffffff' });
  const stroke = h('input', { id: 'fp-stroke', type: 'color', value: '#000000' });
  const position = h('select', { id: 'fp-position' },
    ['Bottom Center', 'Lower Third', 'Middle Center', 'Top Center'].map((p) => h('option', { value: p }, p)));
  // The spoken word is highlighted, as the renderer draws it.
  const sample = h('span', {}, 'Your product, ', h('mark', {}, 'in'), ' your words');
  const preview = h('div', { class: 'preview', role: 'img', 'aria-label': 'Caption preview' }, sample);
  const msg = statusBox();
  const update = () => {
    // Scaled from the 1080-pixel short side to the 192-pixel preview; CSSOM, not a style attribute.
    sample.style.color = color.value;
    sample.style.fontSize = `${Math.max(6, Number(size.value) * 192 / 1080)}px`;
    sample.style.fontFamily = `"${family.value.replace(/[^A-Za-z0-9 -]/g, '')}", sans-serif`;
    sample.style.webkitTextStroke = `0.6px ${stroke.value}`;
    preview.className = `preview ${{ 'Top Center': 'top', 'Middle Center': 'middle', 'Lower Third': 'third' }[position.value] || ''}`;
  };
  [family, size, color, stroke, position].forEach((el) => el.addEventListener('input', update));
  const form = h('form', {},
    h('label', { for: 'fp-name' }, 'Profile name'), name,
    h('label', { for: 'fp-family' }, 'Font family'), family,
    h('label', { for: 'fp-size' }, 'Size (pixels on a 1080-pixel side)'), size,
    h('div', { class: 'row' },
      h('div', {}, h('label', { for: 'fp-color' }, 'Caption colour'), color),
      h('div', {}, h('label', { for: 'fp-stroke' }, 'Outline colour'), stroke)),
    h('label', { for: 'fp-position' }, 'Position'), position,
    h('p', { class: 'muted' }, 'Preview (approximate):'), preview,
    h('button', { type: 'submit' }, 'Create font profile'), msg);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.textContent = '';
    try {
      await api('POST', '/font-profiles', {
        profile_name: name.value, name: family.value, size: Number(size.value),
        bold: true, italic: false, underlined: false, strikethrough: false,
        caption_position: { overlay_visualizer: position.value },
        caption_style_color: color.value.toUpperCase(), caption_style_stroke_color: stroke.value.toUpperCase(),
        caption_style_stroke_thickness: 4, caption_shadow_x_pos: 2, caption_shadow_y_pos: 2,
        caption_shadow_color: '#000000', caption_shadow_blur: 2, caption_lines: 2,
        caption_highlighter: true, caption_highlighter_color: '#FFD400',
      });
      if (gen === generation) accountView(gen);
    } catch (e) { msg.textContent = e.message; }
  });
  update();
  return h('section', { class: 'card' }, h('h2', {}, 'Font profiles'), list, h('h3', {}, 'New font profile'), form);
}

// ---------------------------------------------------------------- router

function route() {
  stopPolling();
  generation += 1;
  const gen = generation;
  if (!getKey()) { signInView(); return; }
  nav.hidden = false;
  const path = location.hash.replace(/^#/, '').split('?')[0];
  const m = path.match(/^\/campaigns\/([^/]+)$/);
  if (m) campaignView(gen, decodeURIComponent(m[1]));
  else if (path === '/new') newCampaignView(gen);
  else if (path === '/account') accountView(gen);
  else campaignsView(gen);
  main.focus({ preventScroll: true });
}

document.getElementById('signout').addEventListener('click', signOut);
window.addEventListener('hashchange', route);
route();

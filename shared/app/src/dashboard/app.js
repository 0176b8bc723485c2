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
  for (const c of children.flat(Infinity)) {
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
    playlists.map((p) => h('option', { value: p.playlist_id || p.id }, p.playlist_name || p.name || p.playlist_id || p.id)));
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

// The renderer's caption look (shared/core/src/render.rs, docs/video.md): a 1080x1920
// frame, the safe zone (270 px top, 676 px bottom, 160 px each side), the box (#0B0B0B at
// 90 %, 24 px padding) and where each preset puts the caption block's centre, as fractions
// of the safe zone (the block is then kept inside it).
const FRAME_W = 1080;
const POSITIONS = [['Top Center', 0], ['Middle Center', 0.5], ['Lower Third', 0.82], ['Bottom Center', 1], ['Custom', 0.5]];
const CORNERS = [['top_left', 'Top left'], ['top_right', 'Top right'], ['bottom_left', 'Bottom left'], ['bottom_right', 'Bottom right']];
const VOICE_PROVIDERS = [['espeak', 'eSpeak NG'], ['polly', 'Amazon Polly'], ['elevenlabs', 'ElevenLabs'], ['azure', 'Azure']];
const NEW_FONT = {
  profile_name: 'Brand captions', name: 'Noto Sans', size: 88, bold: true, italic: false, underlined: false,
  strikethrough: false, caption_position: { overlay_visualizer: 'Lower Third' },
  caption_style_color: '#FFFFFF', caption_style_stroke_color: '#000000', caption_style_stroke_thickness: 0,
  caption_shadow_x_pos: 0, caption_shadow_y_pos: 0, caption_shadow_color: '#000000', caption_shadow_blur: 0,
  caption_lines: 2, caption_highlighter: true, caption_highlighter_color: '#FFD60A',
};
// Upload types by file name: browsers disagree on .m4a and .wav (audio/x-m4a, audio/x-wav).
const UPLOAD_TYPES = { png: 'image/png', mp4: 'video/mp4', mp3: 'audio/mpeg', m4a: 'audio/mp4', wav: 'audio/wav' };

/** A file's bytes PUT to the API with the type its name says (the server checks the bytes). */
async function upload(path, file) {
  const ext = (file.name.split('.').pop() || '').toLowerCase();
  const type = UPLOAD_TYPES[ext] || file.type || 'application/octet-stream';
  const init = {
    method: 'PUT', body: file, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
    headers: { Authorization: `Bearer ${getKey()}`, 'Content-Type': type },
  };
  let r;
  try { r = await fetch(`/api/v1${path}`, init); } catch (e) { throw new ApiError('The server could not be reached', 0); }
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) throw new ApiError(`${file.name}: ${(data && data.error) || `HTTP ${r.status}`}`, r.status);
  return data;
}

/** A record without the fields the API adds (ids, times), ready to be sent back. */
function plain(rec, idField) {
  const out = { ...rec };
  for (const k of [idField, 'disabled', 'created_at', 'updated_at']) delete out[k];
  return out;
}

const hex = (v, fallback) => (/^#[0-9a-fA-F]{6}$/.test(v || '') ? v.toLowerCase() : fallback);

function field(id, label, input) {
  input.id = id;
  return [h('label', { for: id }, label), input];
}

function check(id, label, on) {
  const box = h('input', { type: 'checkbox', id, checked: !!on });
  return [box, h('label', { for: id, class: 'inline' }, box, label)];
}

async function accountView(gen, flash) {
  const err = errorBox();
  show(h('h1', {}, 'Account'), err);
  let a, destinations;
  try {
    [a, destinations] = await Promise.all([api('GET', '/account'), api('GET', '/destinations')]);
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
  const lists = {
    font: a.font_profiles || [], media: a.media_profiles || [], voice: a.voice_profiles || [],
    playlist: a.playlists || [], destination: (destinations && destinations.destinations) || [],
  };
  const reload = (section, text) => { if (gen === generation) accountView(gen, { section, text }); };
  const sections = [
    editor(fontEditor(), lists.font, reload, flash),
    editor(mediaEditor(), lists.media, reload, flash),
    editor(voiceEditor(), lists.voice, reload, flash),
    editor(playlistEditor(lists), lists.playlist, reload, flash),
    editor(destinationEditor(), lists.destination, reload, flash),
  ];
  show(h('h1', {}, 'Account'), plan, usage, keys, sections);
  const flashed = flash && main.querySelector(`#${flash.section}-msg`);
  if (flashed) flashed.focus();
}

/**
 * A list of records with Edit and Delete, and a form that creates one or edits the chosen
 * one. `kind` describes the API (`path`, `idField`, `nameField`), the words (`title`,
 * `noun`) and the form (`fields(rec)` → `{ nodes, body(), after(id) }`).
 */
function editor(kind, records, reload, flash) {
  const msg = h('p', { class: 'note', role: 'status', id: `${kind.key}-msg`, tabindex: '-1' });
  if (flash && flash.section === kind.key) msg.textContent = flash.text;
  const holder = h('div', {});
  const nameOf = (r) => r[kind.nameField] || r[kind.idField];
  const list = h('ul', { class: 'plain records' }, records.map((r) => {
    const name = nameOf(r);
    const del = h('button', { type: 'button', class: 'secondary', 'aria-label': `Delete ${name}` }, 'Delete');
    let armed = false;
    del.addEventListener('click', async () => {
      if (!armed) {
        // A second press confirms: no dialog (a dialog would block the page).
        armed = true;
        del.textContent = 'Confirm delete';
        del.setAttribute('aria-label', `Confirm delete ${name}`);
        return;
      }
      del.disabled = true;
      try {
        await api('DELETE', `${kind.path}/${encodeURIComponent(r[kind.idField])}`);
        reload(kind.key, `Deleted ${name}.`);
      } catch (e) { msg.textContent = e.message; del.disabled = false; }
    });
    const edit = kind.editable === false ? null
      : h('button', { type: 'button', class: 'secondary', 'aria-label': `Edit ${name}`, onclick: () => openForm(r) }, 'Edit');
    return h('li', {}, h('div', {}, h('strong', {}, name), h('span', { class: 'muted' }, ` ${kind.summary(r)}`)),
      h('div', {}, edit, del));
  }));
  if (!records.length) list.append(h('li', { class: 'muted' }, `No ${kind.title.toLowerCase()} yet.`));

  const openForm = (rec) => {
    const f = kind.fields(rec);
    const submit = h('button', { type: 'submit' }, rec ? `Save ${kind.noun}` : `Create ${kind.noun}`);
    const cancel = rec ? h('button', { type: 'button', class: 'secondary', onclick: () => openForm(null) }, 'Cancel') : null;
    const form = h('form', { novalidate: true },
      h('h3', {}, rec ? `Edit ${kind.noun}: ${nameOf(rec)}` : `New ${kind.noun}`),
      f.nodes, submit, cancel);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      msg.textContent = '';
      submit.disabled = true;
      try {
        let saved;
        if (rec) saved = await api('PUT', `${kind.path}/${encodeURIComponent(rec[kind.idField])}`, f.body());
        else saved = await api('POST', kind.path, f.body());
        const record = saved[kind.api] || saved;
        if (f.after) await f.after(record[kind.idField]);
        reload(kind.key, `${rec ? 'Saved' : 'Created'} ${nameOf(record)}.`);
      } catch (e) {
        msg.textContent = e.message;
        submit.disabled = false;
      }
    });
    holder.replaceChildren(form);
    if (f.start) f.start();
    if (rec) form.querySelector('input, select').focus();
  };
  openForm(null);
  return h('section', { class: 'card', 'aria-labelledby': `${kind.key}-h` },
    h('h2', { id: `${kind.key}-h` }, kind.title), list, msg, holder);
}

// ------------------------------------------------ font profiles and the caption preview

function fontEditor() {
  return {
    key: 'font', title: 'Font profiles', noun: 'font profile', api: 'font_profile', path: '/font-profiles',
    idField: 'font_profile_id', nameField: 'profile_name',
    summary: (f) => `${f.name}, ${f.size} px, ${f.caption_style_color}, ${(f.caption_position || {}).overlay_visualizer || 'Lower Third'}`,
    fields: fontFields,
  };
}

function fontFields(rec) {
  const r = { ...NEW_FONT, ...(rec ? plain(rec, 'font_profile_id') : {}) };
  const pos = r.caption_position || {};
  const text = (v, attrs = {}) => h('input', { type: 'text', value: v == null ? '' : String(v), ...attrs });
  const num = (v, min, max, step = '1') => h('input', { type: 'number', min, max, step, value: String(v) });
  const color = (v, fallback) => h('input', { type: 'color', value: hex(v, fallback) });
  const name = text(r.profile_name, { required: true, maxlength: '100' });
  const family = text(r.name);
  const size = num(r.size, '8', '200');
  const [bold, boldL] = check('fp-bold', 'Bold', r.bold);
  const [italic, italicL] = check('fp-italic', 'Italic', r.italic);
  const [underline, underlineL] = check('fp-underline', 'Underlined', r.underlined);
  const [strike, strikeL] = check('fp-strike', 'Strikethrough', r.strikethrough);
  const position = h('select', {}, POSITIONS.map(([p]) => h('option', { value: p, selected: p === (pos.overlay_visualizer || 'Lower Third') }, p)));
  const px = text(pos.x, { placeholder: '(main_w-overlay_w)/2', spellcheck: 'false' });
  const py = text(pos.y, { placeholder: 'main_h*0.8', spellcheck: 'false' });
  const custom = h('div', {}, field('fp-x', 'Custom x (expression)', px), field('fp-y', 'Custom y (expression)', py));
  const lines = num(r.caption_lines, '1', '4');
  const textColor = color(r.caption_style_color, '#ffffff');
  const [highlighter, highlighterL] = check('fp-highlighter', 'Highlight the spoken word', r.caption_highlighter);
  const highlightColor = color(r.caption_highlighter_color, '#ffd60a');
  const strokeColor = color(r.caption_style_stroke_color, '#000000');
  const strokeWidth = num(r.caption_style_stroke_thickness, '0', '20');
  const shadowColor = color(r.caption_shadow_color, '#000000');
  const shadowX = num(r.caption_shadow_x_pos, '-50', '50');
  const shadowY = num(r.caption_shadow_y_pos, '-50', '50');
  const shadowBlur = num(r.caption_shadow_blur, '0', '20');

  // The preview: a 9:16 frame, the safe zone, the caption block (box, text, spoken word).
  const spoken = h('span', { class: 'spoken' }, 'in');
  const words = h('span', { class: 'caption-text' }, 'Your product, ', spoken, ' your own words');
  const block = h('div', { class: 'caption-block' }, words);
  words.id = 'fp-preview-caption';
  const zone = h('div', { class: 'safe-zone' }, block);
  const frame = h('div', { class: 'frame', role: 'img', 'aria-label': 'Caption preview in a 9:16 frame' }, zone);
  const note = h('p', { class: 'muted small', id: 'fp-preview-note' });
  const update = () => {
    // Everything scales from the 1080-pixel short side to the frame's width; set through
    // the CSSOM (the policy allows no style attributes).
    const scale = (frame.clientWidth || 216) / FRAME_W;
    const font = family.value.replace(/[^\p{L}\p{N} -]/gu, '').trim();
    const s = words.style;
    s.fontFamily = font ? `"${font}", "Noto Sans CJK JP", sans-serif` : '"Noto Sans CJK JP", sans-serif';
    s.fontSize = `${Math.max(1, Math.min(200, Number(size.value) || 8) * scale)}px`;
    s.fontWeight = bold.checked ? '700' : '400';
    s.fontStyle = italic.checked ? 'italic' : 'normal';
    s.textDecorationLine = [underline.checked && 'underline', strike.checked && 'line-through'].filter(Boolean).join(' ') || 'none';
    s.color = textColor.value;
    s.padding = `${24 * scale}px`;
    const n = Math.max(1, Math.min(4, Number(lines.value) || 1));
    spoken.style.color = highlighter.checked ? highlightColor.value : textColor.value;
    custom.hidden = position.value !== 'Custom';
    // The block's centre at the preset's fraction of the safe zone, kept inside it.
    const frac = (POSITIONS.find(([p]) => p === position.value) || POSITIONS[2])[1];
    const zh = zone.clientHeight, bh = block.offsetHeight;
    const centre = Math.min(Math.max(frac * zh, bh / 2), Math.max(bh / 2, zh - bh / 2));
    block.style.top = `${centre - bh / 2}px`;
    note.textContent = 'As the renderer draws it: the text in a #0B0B0B box at 90 % inside the safe zone (dashed), '
      + `at most ${n} line${n === 1 ? '' : 's'}. The box replaces the outline and the shadow, so they are stored but not drawn`
      + (position.value === 'Custom' ? '; custom expressions are evaluated by the server, the preview shows the middle.' : '.');
  };
  const inputs = [family, size, bold, italic, underline, strike, position, lines, textColor, highlighter, highlightColor];
  inputs.forEach((el) => { el.addEventListener('input', update); el.addEventListener('change', update); });

  const nodes = [
    field('fp-name', 'Font profile name', name),
    field('fp-family', 'Font family', family),
    field('fp-size', 'Size (pixels on a 1080-pixel side)', size),
    h('fieldset', {}, h('legend', {}, 'Style'), boldL, italicL, underlineL, strikeL),
    field('fp-position', 'Position', position), custom,
    field('fp-lines', 'Lines per caption (1–4)', lines),
    h('div', { class: 'row' },
      h('div', {}, field('fp-color', 'Caption colour', textColor)),
      h('div', {}, field('fp-highlight', 'Spoken word colour', highlightColor))),
    highlighterL,
    h('fieldset', {}, h('legend', {}, 'Outline and shadow (stored; not drawn under the box)'),
      h('div', { class: 'row' },
        h('div', {}, field('fp-stroke', 'Outline colour', strokeColor)),
        h('div', {}, field('fp-stroke-width', 'Outline thickness', strokeWidth)),
        h('div', {}, field('fp-shadow', 'Shadow colour', shadowColor))),
      h('div', { class: 'row' },
        h('div', {}, field('fp-shadow-x', 'Shadow x', shadowX)),
        h('div', {}, field('fp-shadow-y', 'Shadow y', shadowY)),
        h('div', {}, field('fp-shadow-blur', 'Shadow blur', shadowBlur)))),
    h('p', { class: 'muted' }, 'Caption preview:'), frame, note,
  ];
  const body = () => {
    const caption_position = { overlay_visualizer: position.value };
    if (position.value === 'Custom') {
      if (px.value.trim()) caption_position.x = px.value.trim();
      if (py.value.trim()) caption_position.y = py.value.trim();
    }
    return {
      ...r,
      profile_name: name.value.trim(), name: family.value.trim(), size: Number(size.value),
      bold: bold.checked, italic: italic.checked, underlined: underline.checked, strikethrough: strike.checked,
      caption_position, caption_lines: Number(lines.value),
      caption_style_color: textColor.value.toUpperCase(),
      caption_highlighter: highlighter.checked, caption_highlighter_color: highlightColor.value.toUpperCase(),
      caption_style_stroke_color: strokeColor.value.toUpperCase(), caption_style_stroke_thickness: Number(strokeWidth.value),
      caption_shadow_color: shadowColor.value.toUpperCase(), caption_shadow_x_pos: Number(shadowX.value),
      caption_shadow_y_pos: Number(shadowY.value), caption_shadow_blur: Number(shadowBlur.value),
    };
  };
  // Laid out once the form is in the document (the block's height places it).
  return { nodes, body, start: () => requestAnimationFrame(update) };
}

// ------------------------------------------------ media profiles (with uploads)

function mediaEditor() {
  const file = (k) => (k ? k.split('/').pop() : 'none');
  return {
    key: 'media', title: 'Media profiles', noun: 'media profile', api: 'media_profile', path: '/media-profiles',
    idField: 'media_profile_id', nameField: 'profile_name',
    summary: (m) => `watermark: ${m.watermark_key || 'none'}` +
      `${m.watermark_key ? ` (${m.watermark_position || 'no corner'}, ${Math.round((m.watermark_width_fraction || 0) * 100)} % wide)` : ''}` +
      `; end clip: ${m.end_clip_key || 'none'}; music: ${m.music === 'default' ? 'built-in bed' : m.music ? file(m.music) : 'none'}`,
    fields: (rec) => {
      const r = rec ? plain(rec, 'media_profile_id') : {};
      const name = h('input', { type: 'text', required: true, maxlength: '100', value: r.profile_name || 'Brand media' });
      const corner = h('select', {}, h('option', { value: '' }, 'None'),
        CORNERS.map(([v, l]) => h('option', { value: v, selected: v === r.watermark_position }, l)));
      const width = h('input', { type: 'number', min: '0.02', max: '0.5', step: '0.01', value: String(r.watermark_width_fraction || 0.2) });
      const uploaded = r.music && r.music !== 'default';
      const music = h('select', {},
        h('option', { value: '' }, 'None'),
        h('option', { value: 'default', selected: r.music === 'default' }, 'Built-in bed (default)'),
        uploaded ? h('option', { value: 'keep', selected: true }, `Uploaded: ${r.music.split('/').pop()}`) : null);
      const wm = h('input', { type: 'file', accept: 'image/png,.png' });
      const clip = h('input', { type: 'file', accept: 'video/mp4,.mp4' });
      const track = h('input', { type: 'file', accept: 'audio/mpeg,audio/mp4,audio/wav,.mp3,.m4a,.wav' });
      const nodes = [
        field('mp-name', 'Media profile name', name),
        field('mp-corner', 'Watermark corner', corner),
        field('mp-width', 'Watermark width (fraction of the frame, 0.02–0.5)', width),
        field('mp-music', 'Music', music),
        h('fieldset', {}, h('legend', {}, 'Files (uploaded when you save)'),
          field('mp-watermark', `Watermark PNG (at most 2 MiB)${r.watermark_key ? `, now ${r.watermark_key.split('/').pop()}` : ''}`, wm),
          field('mp-end-clip', `End clip MP4 (at most 4 MiB, 15 s)${r.end_clip_key ? `, now ${r.end_clip_key.split('/').pop()}` : ''}`, clip),
          field('mp-music-file', 'Music MP3, M4A or WAV (at most 8 MiB, 5 minutes; replaces the choice above)', track)),
      ];
      const body = () => {
        const out = { ...r, profile_name: name.value.trim(), watermark_position: corner.value || null,
          watermark_width_fraction: Number(width.value) };
        // The stored files stay when left out; only the upload routes set them.
        delete out.watermark_key; delete out.end_clip_key;
        out.music = music.value === 'keep' ? r.music : (music.value || null);
        return out;
      };
      const after = async (id) => {
        const base = `/media-profiles/${encodeURIComponent(id)}`;
        if (wm.files[0]) await upload(`${base}/watermark`, wm.files[0]);
        if (clip.files[0]) await upload(`${base}/end-clip`, clip.files[0]);
        if (track.files[0]) await upload(`${base}/music`, track.files[0]);
      };
      return { nodes, body, after };
    },
  };
}

// ------------------------------------------------ voice profiles

function voiceEditor() {
  return {
    key: 'voice', title: 'Voice profiles', noun: 'voice profile', api: 'voice_profile', path: '/voice-profiles',
    idField: 'voice_profile_id', nameField: 'profile_name',
    summary: (v) => `${v.provider_name || v.provider_id}${v.region ? `, ${v.region}` : ''}, key ${v.api_key || 'none'}`,
    fields: (rec) => {
      const r = rec || {};
      const name = h('input', { type: 'text', required: true, maxlength: '100', value: r.profile_name || 'Narrator' });
      const provider = h('select', {}, VOICE_PROVIDERS.map(([v, l]) => h('option', { value: v, selected: v === (r.provider_id || 'espeak') }, l)));
      const region = h('input', { type: 'text', value: r.region || '', placeholder: 'us-east-1' });
      const key = h('input', { type: 'password', autocomplete: 'off', value: '' });
      const [remove, removeL] = check('vp-remove-key', 'Remove the stored key', false);
      const nodes = [
        field('vp-name', 'Voice profile name', name),
        field('vp-provider', 'Voice provider', provider),
        field('vp-region', 'Region (optional)', region),
        field('vp-key', rec ? `Provider API key (empty keeps ${r.api_key || 'none'})` : 'Provider API key (optional)', key),
        rec && r.api_key ? removeL : null,
        h('p', { class: 'muted' }, 'This server speaks with its own engine (eSpeak NG locally, Polly on AWS); a profile for another provider is refused.'),
      ];
      const body = () => {
        const out = { profile_name: name.value.trim(), provider_id: provider.value, region: region.value.trim() };
        if (key.value) out.api_key = key.value;
        else if (remove.checked) out.api_key = '';
        return out;
      };
      return { nodes, body };
    },
  };
}

// ------------------------------------------------ playlists

function playlistEditor(lists) {
  const named = (items, idField, id) => {
    const r = items.find((x) => x[idField] === id);
    return r ? r.profile_name : id;
  };
  const choices = [
    ['font_profile_id', 'Font profile', lists.font], ['media_profile_id', 'Media profile', lists.media],
    ['voice_profile_id', 'Voice profile', lists.voice],
  ];
  return {
    key: 'playlist', title: 'Playlists', noun: 'playlist', api: 'playlist', path: '/playlists',
    idField: 'playlist_id', nameField: 'playlist_name',
    summary: (p) => choices.map(([f, l, items]) => `${l.toLowerCase()}: ${p[f] ? named(items, f, p[f]) : 'none'}`).join('; '),
    fields: (rec) => {
      const r = rec ? plain(rec, 'playlist_id') : {};
      const name = h('input', { type: 'text', required: true, maxlength: '100', value: r.playlist_name || 'Brand playlist' });
      const selects = choices.map(([f, , items]) => h('select', {}, h('option', { value: '' }, 'None'),
        items.map((x) => h('option', { value: x[f], selected: x[f] === r[f] }, x.profile_name || x[f]))));
      const nodes = [
        field('pl-name', 'Playlist name', name),
        choices.map(([f, l], i) => field(`pl-${f}`, l, selects[i])),
      ];
      const body = () => {
        const out = { ...r, playlist_name: name.value.trim() };
        choices.forEach(([f], i) => { out[f] = selects[i].value || null; });
        return out;
      };
      return { nodes, body };
    },
  };
}

// ------------------------------------------------ destinations

function destinationEditor() {
  return {
    key: 'destination', title: 'Destinations', noun: 'destination', api: 'destination', path: '/destinations',
    idField: 'destination_id', nameField: 'name', editable: false,
    summary: (d) => `(${d.provider}, ${d.privacy}): client ${d.client_id}, secret ${d.client_secret}, refresh token ${d.refresh_token}`,
    fields: () => {
      const provider = h('select', {}, h('option', { value: 'youtube' }, 'YouTube'), h('option', { value: 'tiktok' }, 'TikTok'));
      const name = h('input', { type: 'text', required: true, maxlength: '100', value: '' });
      const secret = () => h('input', { type: 'password', autocomplete: 'off', spellcheck: 'false' });
      const id = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false' });
      const sec = secret(), token = secret();
      const privacy = h('select', {}, ['private', 'unlisted', 'public'].map((p) => h('option', { value: p }, p)));
      const nodes = [
        field('ds-provider', 'Destination provider', provider),
        field('ds-name', 'Destination name', name),
        field('ds-client-id', 'Client ID', id),
        field('ds-client-secret', 'Client secret', sec),
        field('ds-refresh-token', 'Refresh token', token),
        field('ds-privacy', 'Privacy', privacy),
        h('p', { class: 'muted' }, 'The credentials are sealed by the server and only ever shown masked. The refresh token comes from the provider’s consent flow (docs/publishing.md).'),
      ];
      const body = () => ({
        provider: provider.value, name: name.value.trim(), client_id: id.value.trim(),
        client_secret: sec.value, refresh_token: token.value, privacy: privacy.value,
      });
      return { nodes, body };
    },
  };
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

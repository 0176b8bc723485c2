// Evaluated with Runtime.evaluate {awaitPromise: true, returnByValue: true} after load.
// Boxes are page coordinates in CSS px: {x, y, w, h} (x/y from the top-left of the document).
(async () => {
  await document.fonts.ready;
  const sx = window.scrollX, sy = window.scrollY;
  const vw = window.innerWidth, vh = window.innerHeight;
  const clean = (s, n = 200) => (s || '').replace(/\s+/g, ' ').trim().slice(0, n);
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return { x: Math.round(r.left + sx), y: Math.round(r.top + sy), w: Math.round(r.width), h: Math.round(r.height) };
  };
  const shown = (el) => {
    const r = el.getBoundingClientRect(), cs = getComputedStyle(el);
    return r.width > 1 && r.height > 1 && cs.visibility !== 'hidden' && cs.display !== 'none' && +cs.opacity > 0.05;
  };
  const all = (sel, root = document) => [...root.querySelectorAll(sel)].filter(shown);
  const src = (u) => (u || '').startsWith('data:') ? (u.slice(0, 30) + '…') : (u || '').slice(0, 300);

  // Hero: the first big block (section/header/…) holding the first h1; else the first big block.
  const h1 = all('h1')[0];
  const blocks = 'header,section,main>div,body>div,[class*=hero],[id*=hero]';
  let hero = h1 && h1.closest('[class*=hero],[id*=hero]');
  for (let el = h1; !hero && el && el !== document.body; el = el.parentElement) {
    if (el.matches(blocks) && el.getBoundingClientRect().height >= 0.4 * vh) hero = el;
  }
  hero = hero || all(blocks).find((el) => el.getBoundingClientRect().height >= 0.4 * vh) || h1;
  const heroCs = hero && getComputedStyle(hero);

  const headings = all('h1,h2,h3').map((el) => ({ level: +el.tagName[1], text: clean(el.innerText), box: box(el) }));

  // Features: a section whose id/class/heading says "feature" (any of the site's languages),
  // its list items or repeated cards; else the first list of ≥ 3 items after the hero.
  const featureWord = /feature|benefit|why|機能|特長|特徴|기능|특징|fonction|funktion|caracter/i;
  const sections = all('section,[class*=feature],[id*=feature],div');
  let featRoot = sections.find((s) => featureWord.test(s.id + ' ' + s.className))
    || sections.find((s) => { const h = s.querySelector('h2,h3'); return h && featureWord.test(h.innerText) && s !== hero; });
  const cardsIn = (root) => {
    const li = all('li', root);
    if (li.length >= 2) return li;
    const cards = all('[class*=card],[class*=feature],[class*=item],article', root).filter((el) => el !== root);
    return cards.length >= 2 ? cards : [];
  };
  let features = featRoot ? cardsIn(featRoot) : [];
  if (!features.length) {
    const list = all('ul,ol').find((l) => (!hero || !hero.contains(l)) && all(':scope>li', l).length >= 3);
    if (list) { featRoot = list; features = all(':scope>li', list); }
  }

  const images = all('img,svg[role=img],picture').map((el) => ({
    alt: clean(el.getAttribute('alt') || el.getAttribute('aria-label') || ''), src: src(el.currentSrc || el.getAttribute('src') || ''),
    natural: el.naturalWidth ? [el.naturalWidth, el.naturalHeight] : null, box: box(el),
  }));

  // Call to action: links/buttons scored by text and class; the best one first.
  const ctaWord = /start|try|get|sign ?up|join|buy|order|download|book|free|demo|contact|subscribe|無料|始め|試|登録|購入|申し込|시작|무료|가입|구매|신청/i;
  const ctas = all('a,button,[role=button],input[type=submit]').map((el) => {
    const text = clean(el.innerText || el.value || el.getAttribute('aria-label'), 120);
    const cls = (el.className && el.className.baseVal === undefined ? el.className : '') + ' ' + el.id;
    const r = el.getBoundingClientRect();
    const score = (ctaWord.test(text) ? 2 : 0) + (/btn|button|cta|primary/i.test(cls) ? 2 : 0)
      + (el.tagName === 'BUTTON' ? 1 : 0) + (r.width * r.height > 0.02 * vw * vw ? 1 : 0) - (el.closest('nav,footer') ? 2 : 0);
    return { text, href: el.getAttribute('href') || null, score, box: box(el) };
  }).filter((c) => c.score >= 2 && c.text).sort((a, b) => b.score - a.score || a.box.y - b.box.y);

  const meta = (sel, attr = 'content') => { const el = document.querySelector(sel); return el ? el.getAttribute(attr) : null; };
  const logo = all('img,svg').find((el) => /logo/i.test([el.className && el.className.baseVal !== undefined ? el.className.baseVal : el.className, el.id, el.getAttribute('alt'), el.getAttribute('src')].join(' ')));
  const brand = all('[class*=logo],[class*=brand],[id*=logo]')[0];

  return {
    url: location.href, title: document.title, lang: document.documentElement.lang || null,
    viewport: { w: vw, h: vh }, bodyBackground: getComputedStyle(document.body).backgroundColor,
    page: { w: document.documentElement.scrollWidth, h: document.documentElement.scrollHeight },
    hero: hero ? {
      box: box(hero), tag: hero.tagName.toLowerCase(), heading: h1 ? clean(h1.innerText) : null,
      text: clean(hero.innerText, 400), background: heroCs.backgroundColor, backgroundImage: heroCs.backgroundImage.slice(0, 300),
    } : null,
    headings,
    features: features.map((el) => ({ text: clean(el.innerText), box: box(el) })),
    featuresBox: featRoot && features.length ? box(featRoot) : null,
    images,
    cta: ctas.slice(0, 5),
    themeColor: meta('meta[name=theme-color]'),
    ogImage: src(meta('meta[property="og:image"]') || ''),
    icons: [...document.querySelectorAll('link[rel~=icon],link[rel=apple-touch-icon]')].map((l) => src(l.getAttribute('href'))),
    logo: logo ? { src: src(logo.currentSrc || logo.getAttribute('src') || ''), alt: logo.getAttribute('alt'), box: box(logo) }
      : brand ? { text: clean(brand.innerText, 80), box: box(brand) } : null,
  };
})()

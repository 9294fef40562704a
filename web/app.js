// app.js: the demo homepage. One carousel of provider cards per category from the list API: the first section is
// fetched at load, every other one only when it scrolls near the view (the original homepage prefetched only its
// first section and deferred the rest, so a page view never fires every list query at once). Avatars come from the
// avatar proxy with a srcset for 1x/2x/3x screens.
'use strict';

(() => {
  const LIMIT = 12;
  const AVATAR_SIZE = 176; // CSS px: the card's square picture (app.css .card)
  const PREFETCH_MARGIN_PX = 100; // a section starts loading when its top is this close below the view
  const REQUEST_TIMEOUT_MS = 10000;
  const DENSITIES = [1, 2, 3];

  const container = document.getElementById('sections');
  const sections = Array.from(container.querySelectorAll('section.row'));
  const fields = container.dataset.fields;
  const money = new Intl.NumberFormat('en-ZA', { style: 'currency', currency: 'ZAR', maximumFractionDigits: 0 });

  // el: a new element with attributes (`text` sets textContent) and children.
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (name === 'text') node.textContent = value;
      else if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
    }
    node.append(...children);
    return node;
  }

  // listUrl: the list request of one section (the category slug encoded, the rest fixed).
  function listUrl(section) {
    return '/api/v1/service-provider-profiles/?category=' + encodeURIComponent(section.dataset.category) +
      '&sort=most_booked&limit=' + LIMIT + '&fields=' + fields;
  }

  // avatarVariant: profile_picture_url with our width and `dpr`; everything else (q, the version token v) kept, and
  // the URL kept relative when it points to this origin.
  function avatarVariant(pictureUrl, dpr) {
    const url = new URL(pictureUrl, location.href);
    url.searchParams.set('w', String(AVATAR_SIZE));
    url.searchParams.set('dpr', String(dpr));
    return url.origin === location.origin ? url.pathname + url.search : url.href;
  }

  // initials: up to two letters for a card without a picture.
  function initials(name) {
    const words = (name || '?').split(/\s+/).filter((w) => /[\p{L}\p{N}]/u.test(w));
    return words.slice(0, 2).map((w) => w.match(/[\p{L}\p{N}]/u)[0].toUpperCase()).join('') || '?';
  }

  function avatar(item) {
    if (!item.profile_picture_url) {
      const hue = (item.id * 47) % 360;
      return el('div', { class: 'avatar placeholder', style: `--hue: ${hue}`, role: 'img', 'aria-label': item.business_name },
        initials(item.business_name));
    }
    return el('img', {
      class: 'avatar',
      src: avatarVariant(item.profile_picture_url, 1),
      srcset: DENSITIES.map((d) => `${avatarVariant(item.profile_picture_url, d)} ${d}x`).join(', '),
      width: AVATAR_SIZE,
      height: AVATAR_SIZE,
      loading: 'lazy',
      decoding: 'async',
      alt: item.business_name || 'provider',
    });
  }

  // facts: rating and price, each only when the response has it (it has what `fields` asked for).
  function facts(item) {
    const out = el('p', { class: 'facts' });
    if ('rating' in item) {
      out.append(item.rating === null
        ? el('span', { class: 'rating new', text: 'New' })
        : el('span', { class: 'rating', text: `★ ${item.rating.toFixed(1)}` },
          el('span', { class: 'count', text: ` (${item.rating_count ?? 0})` })));
    }
    if ('hourly_rate' in item && item.hourly_rate !== null && item.price_visible !== false) {
      out.append(el('span', { class: 'price', text: `${money.format(Number(item.hourly_rate))}/hr` }));
    }
    return out;
  }

  function card(item) {
    return el('li', { class: 'card', 'data-id': item.id },
      avatar(item),
      el('div', { class: 'card-body' },
        el('h3', { text: item.business_name || 'Unnamed provider' }),
        'location' in item ? el('p', { class: 'location', text: item.location || 'South Africa' }) : '',
        facts(item)));
  }

  // skeletons: grey cards of the real cards' size, so the section keeps its height whatever happens to it.
  function skeletons() {
    return Array.from({ length: LIMIT }, () => el('li', { class: 'card skeleton', 'aria-hidden': 'true' },
      el('div', { class: 'avatar' }), el('div', { class: 'card-body' }, el('span'), el('span'))));
  }

  function scrollButton(list, direction, label) {
    const button = el('button', { type: 'button', class: 'scroll', 'aria-label': label, text: direction < 0 ? '‹' : '›' });
    button.addEventListener('click', () => list.scrollBy({ left: direction * list.clientWidth * 0.8, behavior: 'smooth' }));
    return button;
  }

  // build: a section's heading, status line and (skeleton) carousel.
  function build(section, index) {
    const id = 'row-' + index;
    const list = el('ul', { class: 'cards' }, ...skeletons());
    section.id = id;
    section.setAttribute('aria-labelledby', id + '-title');
    section.setAttribute('aria-busy', 'true');
    section.dataset.state = 'idle';
    section.append(
      el('div', { class: 'row-head' },
        el('h2', { id: id + '-title', text: section.dataset.title }),
        el('span', { class: 'meta', text: 'most booked' }),
        el('span', { class: 'buttons' }, scrollButton(list, -1, 'Scroll left'), scrollButton(list, 1, 'Scroll right'))),
      el('div', { class: 'frame' }, list, el('p', { class: 'status', role: 'status' })));
    document.getElementById('chips').append(el('a', { href: '#' + id, text: section.dataset.title }));
  }

  // errorMessage: the API's JSON `detail` (a string, or FastAPI's list of {msg, loc}), else the HTTP status.
  function errorMessage(response, body) {
    const detail = body && body.detail;
    if (typeof detail === 'string') return detail;
    if (Array.isArray(detail)) {
      return detail.map((d) => (d.loc ? d.loc[d.loc.length - 1] + ': ' : '') + (d.msg || JSON.stringify(d))).join('; ');
    }
    return `HTTP ${response.status} ${response.statusText}`.trim();
  }

  // showError: the message over the section's (stilled) skeletons, so the page keeps its layout and the sections below
  // do not slide into view and fire their own requests at a failing API.
  function showError(section, message) {
    const status = section.querySelector('.status');
    const retry = el('button', { type: 'button', class: 'retry', text: 'Try again' });
    retry.addEventListener('click', () => load(section));
    section.dataset.state = 'error';
    section.setAttribute('aria-busy', 'false');
    section.querySelector('.cards').replaceChildren(...skeletons());
    status.className = 'status error';
    status.replaceChildren(`Could not load ${section.dataset.title}: ${message}. `, retry);
  }

  function render(section, body, cache, ms) {
    const list = section.querySelector('.cards');
    const status = section.querySelector('.status');
    section.dataset.state = 'loaded';
    section.setAttribute('aria-busy', 'false');
    section.querySelector('.meta').textContent =
      `most booked · ${body.data.length} of ${body.total.toLocaleString('en-ZA')} · ${cache || 'no X-Cache'} · ${ms} ms`;
    status.className = 'status';
    status.textContent = body.data.length === 0 ? 'Nobody in this category yet.' : '';
    list.replaceChildren(...body.data.map(card));
  }

  // load: fetches and renders one section (once; again only through its retry button).
  async function load(section) {
    if (section.dataset.state === 'loading' || section.dataset.state === 'loaded') return;
    section.dataset.state = 'loading';
    section.setAttribute('aria-busy', 'true');
    const started = performance.now();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
    try {
      const response = await fetch(listUrl(section), { headers: { Accept: 'application/json' }, signal: abort.signal });
      const body = await response.json().catch(() => null);
      if (!response.ok || !body || !Array.isArray(body.data)) {
        showError(section, body ? errorMessage(response, body) : `HTTP ${response.status}, not JSON`);
        return;
      }
      render(section, body, response.headers.get('X-Cache'), Math.round(performance.now() - started));
    } catch (e) {
      showError(section, e.name === 'AbortError' ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : e.message);
    } finally {
      clearTimeout(timer);
    }
  }

  // deferLoading: every section but the first loads when it comes within PREFETCH_MARGIN_PX below the view.
  function deferLoading(rest) {
    if (!('IntersectionObserver' in window)) {
      rest.forEach(load);
      return;
    }
    const observer = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        observer.unobserve(entry.target);
        load(entry.target);
      }
    }, { rootMargin: `0px 0px ${PREFETCH_MARGIN_PX}px 0px` });
    rest.forEach((section) => observer.observe(section));
  }

  sections.forEach(build);
  document.body.dataset.prefetchMargin = String(PREFETCH_MARGIN_PX);
  load(sections[0]);
  deferLoading(sections.slice(1));

  const navigation = performance.getEntriesByType('navigation')[0];
  if (navigation && navigation.nextHopProtocol) {
    document.getElementById('protocol').textContent = `This page came over ${navigation.nextHopProtocol}.`;
  }
})();

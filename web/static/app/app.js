// daifu's Mini App: my orders, an order, a request as a friend sees it, asking friends, and the admin's new link.
// Plain browser JavaScript, no build step. Everything comes from /app/api/ (signed in by Telegram's init data);
// Telegram's own controls do the rest: the MainButton for the one primary action, the BackButton, the payment
// sheet (openInvoice), the share sheet (shareMessage), haptics, the theme's colours and safe areas.
(() => {
  'use strict';

  const tg = window.Telegram && window.Telegram.WebApp;
  const POLL_MS = 3000; // a friend's chip-in shows within a few seconds while the app is open
  const LOCALES = ['en', 'zh_Hans'];
  const state = {
    locale: 'en',
    words: {},
    stack: [], // screens, the current one last
    mainAction: null,
    busy: false, // a payment or share sheet is open: the screen is not redrawn under it
    quietUntil: 0, // daifu said "too many requests": live updates wait until then
  };

  // --- small helpers ------------------------------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    node.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
    return node;
  }

  function word(key, values = {}) {
    let text = state.words[key] || key;
    for (const [name, value] of Object.entries(values)) text = text.split(`{${name}}`).join(String(value));
    return text;
  }

  function localeOf(code) {
    return String(code || '').toLowerCase().startsWith('zh') ? 'zh_Hans' : 'en';
  }

  let toastTimer = null;
  function toast(text) {
    const box = $('toast');
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, 3500);
  }

  function haptic(type) {
    try {
      tg.HapticFeedback.notificationOccurred(type);
    } catch (error) { /* an old Telegram app: no haptics */ }
  }

  async function api(path, body) {
    const options = { headers: { Authorization: `tma ${tg.initData}` } };
    if (body !== undefined) {
      options.method = 'POST';
      options.headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(body);
    }
    const response = await fetch(`/app/api/${path}`, options);
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(data.error || word('failed'));
      error.status = response.status;
      error.code = data.code;
      throw error;
    }
    return data;
  }

  // Money typed by a person, in the currency's own minor units (2 digits for USD, none for JPY).
  function digitsOf(currency) {
    try {
      return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
    } catch (error) {
      return 2;
    }
  }

  function minorToText(minor, currency) {
    const digits = digitsOf(currency);
    return digits ? (minor / 10 ** digits).toFixed(digits) : String(minor);
  }

  function textToMinor(text, currency) {
    const digits = digitsOf(currency);
    const cleaned = String(text).trim().replace(',', '.');
    const match = /^(\d{1,9})(?:\.(\d*))?$/.exec(cleaned);
    if (!match || (match[2] || '').length > digits) return null;
    return Number(match[1]) * 10 ** digits + Number((match[2] || '').padEnd(digits, '0') || 0);
  }

  // --- screens and moving between them --------------------------------------------------------------------------

  const current = () => state.stack[state.stack.length - 1];

  function go(screen) {
    state.stack.push(screen);
    show();
  }

  function replace(screen) {
    state.stack.pop();
    go(screen);
  }

  function back() {
    if (state.stack.length < 2) return;
    state.stack.pop();
    show();
  }

  function setMain(main) {
    state.mainAction = main ? main.action : null;
    tg.MainButton.hideProgress(); // a screen's button starts idle, whatever the one before it was doing
    if (!main) {
      tg.MainButton.hide();
      return;
    }
    tg.MainButton.setParams({ text: main.text, is_visible: true, is_active: true });
  }

  async function show({ quiet = false } = {}) {
    const screen = current();
    if (state.stack.length > 1) tg.BackButton.show();
    else tg.BackButton.hide();
    if (!quiet) {
      setMain(null);
      $('screen').dataset.screen = screen.name;
      $('screen').setAttribute('aria-busy', 'true');
      if (!screen.last) $('screen').replaceChildren(el('p', { class: 'hint' }, word('loading')));
    }
    let data = null;
    try {
      data = screen.load ? await screen.load() : {};
    } catch (error) {
      // The chat's per-person pace holds in the app too; live updates step back rather than keep it throttled.
      if (error.status === 429) state.quietUntil = Date.now() + 30000;
      if (screen !== current()) return;
      if (!quiet) drawError(error);
      return;
    }
    if (screen !== current()) return; // the person moved on while it loaded
    const seen = JSON.stringify(data);
    if (quiet && seen === screen.last) return;
    screen.last = seen;
    screen.data = data;
    draw(screen);
  }

  function draw(screen) {
    const box = $('screen');
    box.dataset.screen = screen.name;
    box.replaceChildren(...screen.draw(screen.data).flat(Infinity).filter(Boolean));
    box.removeAttribute('aria-busy');
    setMain(screen.main ? screen.main(screen.data) : null);
  }

  function drawError(error) {
    const box = $('screen');
    box.removeAttribute('aria-busy');
    const signIn = error.status === 401;
    box.replaceChildren(
      el('section', { class: 'card problem', 'data-testid': 'problem' },
        el('h1', {}, signIn ? word('signin_title') : word('problem_title')),
        el('p', {}, error.message),
        signIn ? null : el('button', { type: 'button', class: 'link', onclick: () => show() }, word('try_again'))),
    );
  }

  // Live updates: the screen's data asked again every few seconds while the app is in front, drawn when it changed.
  function poll() {
    const screen = current();
    if (!screen || !screen.live || state.busy || document.visibilityState !== 'visible') return;
    if (Date.now() < state.quietUntil) return;
    // A person typing an amount keeps it: the screen waits until they leave the field.
    if (document.activeElement && ['INPUT', 'TEXTAREA'].includes(document.activeElement.tagName)) return;
    show({ quiet: true });
  }

  // --- pieces several screens draw -----------------------------------------------------------------------------

  function amountBlock(money) {
    return el('div', { class: 'amount', 'data-testid': 'amount' }, money.formatted);
  }

  function statusLine(status) {
    return el('p', { class: `status status-${status.code}`, 'data-testid': 'status' }, status.words);
  }

  function progress(request, amount) {
    const ratio = amount.minor ? Math.min(1, request.covered.minor / amount.minor) : 0;
    const bar = el('div', { class: 'bar' }, el('div', { class: 'fill' }));
    bar.firstChild.style.width = `${Math.round(ratio * 100)}%`; // the CSSOM: no style attribute under the CSP
    return el('div', { class: 'progress', 'data-testid': 'progress' },
      bar,
      el('p', { class: 'hint' }, word('covered_of', { covered: request.covered.formatted, amount: amount.formatted }),
        request.remaining && request.remaining.minor ? ` · ${word('remaining', { remaining: request.remaining.formatted })}` : ''));
  }

  function button(text, onclick, { kind = 'secondary', testid = undefined } = {}) {
    return el('button', { type: 'button', class: `button ${kind}`, 'data-testid': testid, onclick }, text);
  }

  // Two taps, both in the page: no popup to answer, and a stray tap calls nothing off.
  function twoTaps(text, confirm, act, testid) {
    const node = button(text, async () => {
      if (node.dataset.armed !== 'true') {
        node.dataset.armed = 'true';
        node.textContent = confirm;
        return;
      }
      node.disabled = true;
      try {
        await act();
      } catch (error) {
        node.disabled = false;
        haptic('error');
        toast(error.message);
      }
    }, { kind: 'danger', testid });
    return node;
  }

  // Opens Telegram's payment sheet for an invoice link daifu made; the bot's pre-checkout and successful-payment
  // handlers check and credit it as they do the chat's invoices. Here only the person is told how it went.
  async function payByInvoice(path, body) {
    if (state.busy) return;
    state.busy = true;
    tg.MainButton.showProgress(false);
    let url;
    try {
      ({ url } = await api(path, body));
    } catch (error) {
      state.busy = false;
      tg.MainButton.hideProgress();
      haptic('error');
      toast(error.message);
      return;
    }
    tg.openInvoice(url, (status) => {
      state.busy = false;
      tg.MainButton.hideProgress();
      if (status === 'paid') {
        haptic('success');
        toast(word('paid'));
      } else if (status === 'failed') {
        haptic('error');
        toast(word('payment_failed'));
      } else if (status === 'pending') {
        toast(word('payment_pending'));
      }
      show({ quiet: true });
    });
  }

  async function payOnWeb(token, method) {
    try {
      const { url } = await api(`orders/${encodeURIComponent(token)}/web`, { method });
      tg.openLink(url);
    } catch (error) {
      toast(error.message);
    }
  }

  // Telegram's share sheet for the card daifu prepared; where the app is too old for it, the chat picker with the
  // bot's inline query (which answers the same card).
  function share(preparedId, inlineQuery) {
    if (preparedId && tg.shareMessage && tg.isVersionAtLeast('8.0')) {
      state.busy = true;
      tg.shareMessage(preparedId, (sent) => {
        state.busy = false;
        if (sent) {
          haptic('success');
          toast(word('shared'));
        }
      });
      return;
    }
    try {
      tg.switchInlineQuery(inlineQuery, ['users', 'groups']);
    } catch (error) {
      toast(word('cannot_share'));
    }
  }

  // --- my orders ---------------------------------------------------------------------------------------------

  const ROLES = ['asked', 'bought', 'paid_for'];

  function roleOf(order) {
    if (order.role) return order.role;
    return order.request ? 'asked' : 'bought';
  }

  function listScreen() {
    const screen = {
      name: 'list',
      live: true,
      page: 0,
      load: () => api(`me?page=${screen.page}`),
      draw: (me) => {
        const nodes = [el('header', { class: 'top' },
          el('h1', {}, word('my_orders')),
          el('p', { class: 'hint' }, word('hello', { name: me.person.name })))];
        if (me.is_admin) {
          nodes.push(button(word('new_link'), () => go(newLinkScreen()), { testid: 'new-link' }));
        }
        if (!me.orders.length) nodes.push(el('p', { class: 'card empty', 'data-testid': 'empty' }, word('no_orders')));
        for (const role of ROLES) {
          const mine = me.orders.filter((order) => roleOf(order) === role);
          if (!mine.length) continue;
          nodes.push(el('section', { class: 'group', 'data-role': role },
            el('h2', {}, word(`role_${role}`)),
            mine.map((order) => orderItem(order, role))));
        }
        const pages = [];
        if (me.page > 0) pages.push(button(word('newer'), () => { screen.page -= 1; show(); }));
        if (me.has_more) pages.push(button(word('older'), () => { screen.page += 1; show(); }));
        if (pages.length) nodes.push(el('div', { class: 'pages' }, pages));
        return nodes;
      },
    };
    return screen;
  }

  function orderItem(order, role) {
    const target = role === 'asked' && order.request ? () => go(requestScreen(order.request.token))
      : order.token ? () => go(orderScreen(order.token)) : null;
    const what = [];
    if (order.can.pay) what.push(word('can_pay'));
    if (order.can.share) what.push(word('can_share'));
    if (order.can.remind) what.push(word('can_remind'));
    return el('button', {
      type: 'button', class: 'item', 'data-testid': 'order-item', 'data-number': order.number, disabled: !target,
      onclick: target,
    },
    el('span', { class: 'line' }, el('span', { class: 'title' }, order.title), el('span', { class: 'price' }, order.amount.formatted)),
    el('span', { class: 'words', 'data-testid': 'order-status' }, order.status.words),
    what.length ? el('span', { class: 'todo' }, what.join(' · ')) : null);
  }

  // --- an order ------------------------------------------------------------------------------------------------

  const INVOICE_ORDER = ['telegram', 'stars'];

  function orderScreen(token) {
    const path = `orders/${encodeURIComponent(token)}`;
    return {
      name: 'order',
      live: true,
      load: () => api(path),
      draw: (data) => {
        const { order, can } = data;
        const nodes = [el('header', { class: 'top' },
          el('p', { class: 'shop' }, order.shop),
          el('h1', { 'data-testid': 'order-title' }, order.title),
          order.description ? el('p', { class: 'hint' }, order.description) : null,
          amountBlock(order.amount),
          statusLine(order.status))];
        if (data.request) {
          nodes.push(el('section', { class: 'card' },
            el('h2', {}, word('your_request')),
            progress(data.request, order.amount),
            button(word('see_request'), () => go(requestScreen(data.request.token)), { testid: 'see-request' })));
        }
        if (can.pay && data.methods.length) {
          nodes.push(el('section', { class: 'card methods', 'data-testid': 'methods' },
            el('h2', {}, word('pay_with')),
            data.methods.map((method) => button(method.label, () => (method.kind === 'invoice'
              ? payByInvoice(`${path}/invoice`, { method: method.id })
              : payOnWeb(token, method.id)), { testid: `method-${method.id}` }))));
        }
        if (can.ask || can.split) {
          nodes.push(el('section', { class: 'card' },
            el('h2', {}, word('ask_heading')),
            el('p', { class: 'hint' }, word('ask_hint')),
            can.ask ? button(word('ask_friend'), () => go(askScreen(token, order, 'single', can)), { testid: 'ask' }) : null,
            can.split ? button(word('split'), () => go(askScreen(token, order, 'split', can)), { testid: 'split' }) : null));
        }
        if (can.cancel) {
          nodes.push(el('div', { class: 'row' }, twoTaps(word('cancel_order'), word('cancel_order_confirm'), async () => {
            await api(`${path}/cancel`, {});
            haptic('success');
            toast(word('order_cancelled'));
            show();
          }, 'cancel-order')));
        }
        return nodes;
      },
      main: (data) => {
        if (!data.can.pay) return null;
        const methods = data.methods.filter((method) => method.kind === 'invoice');
        methods.sort((a, b) => INVOICE_ORDER.indexOf(a.id) - INVOICE_ORDER.indexOf(b.id));
        const first = methods[0] || data.methods[0];
        if (!first) return null;
        return {
          text: word('pay_amount', { amount: data.order.amount.formatted }),
          action: () => (first.kind === 'invoice'
            ? payByInvoice(`${path}/invoice`, { method: first.id }) : payOnWeb(token, first.id)),
        };
      },
    };
  }

  // --- asking friends ----------------------------------------------------------------------------------------------

  const MAX_SHARES = 10;

  function askScreen(token, order, mode, can) {
    const screen = {
      name: 'ask',
      live: false,
      draft: { mode, shares: 2, note: '' },
      draw: () => {
        const draft = screen.draft;
        const modes = el('div', { class: 'segments', role: 'radiogroup' },
          [can.ask ? 'single' : null, can.split ? 'split' : null].filter(Boolean).map((choice) => el('button', {
            type: 'button', role: 'radio', class: 'segment', 'aria-checked': String(draft.mode === choice),
            'data-testid': `mode-${choice}`, onclick: () => { draft.mode = choice; draw(screen); },
          }, word(`mode_${choice}`))));
        const note = el('textarea', {
          id: 'note', maxlength: 200, rows: 3, placeholder: word('note_placeholder'), 'data-testid': 'note',
        });
        note.value = draft.note;
        note.addEventListener('input', () => { draft.note = note.value; });
        const nodes = [
          el('header', { class: 'top' }, el('h1', {}, word('ask_heading')), el('p', { class: 'hint' }, `${order.title} · ${order.amount.formatted}`)),
          modes,
        ];
        if (draft.mode === 'split') {
          const change = (by) => { draft.shares = Math.min(MAX_SHARES, Math.max(2, draft.shares + by)); draw(screen); };
          nodes.push(el('div', { class: 'stepper' },
            el('span', {}, word('shares')),
            button('−', () => change(-1), { testid: 'fewer' }),
            el('output', { 'data-testid': 'shares' }, String(draft.shares)),
            button('+', () => change(1), { testid: 'more' })));
        }
        nodes.push(el('label', { for: 'note', class: 'label' }, word('note')), note);
        return nodes;
      },
      main: () => ({
        text: screen.draft.mode === 'split' ? word('split_in', { shares: screen.draft.shares }) : word('make_request'),
        action: async () => {
          const { mode: chosen, shares, note } = screen.draft;
          tg.MainButton.showProgress(false);
          try {
            const made = await api(`orders/${encodeURIComponent(token)}/ask`, {
              mode: chosen, shares: chosen === 'split' ? shares : 1, note: note.trim(),
            });
            replace(requestScreen(made.request.token));
            share(made.prepared_message_id, made.inline_query);
          } catch (error) {
            tg.MainButton.hideProgress();
            haptic('error');
            toast(error.message);
          }
        },
      }),
    };
    return screen;
  }

  // The request's ways to pay in Telegram's sheet, card first, as the server lists them (both if it lists none).
  function invoiceMethods(data) {
    if (!Array.isArray(data.methods)) return ['telegram', 'stars'];
    return ['telegram', 'stars'].filter((id) => data.methods.some((method) => method.id === id && method.kind === 'invoice'));
  }

  // --- a request, as the friend (or the one who asked) sees it ------------------------------------------------------

  function requestScreen(token) {
    const path = `requests/${encodeURIComponent(token)}`;
    const screen = {
      name: 'request',
      live: true,
      chipIn: null, // what the person typed, kept across redraws
      load: () => api(path),
      draw: (data) => {
        const { request, order, can } = data;
        const offered = invoiceMethods(data);
        const nodes = [el('header', { class: 'top' },
          el('p', { class: 'shop' }, order.shop),
          el('p', { class: 'asks', 'data-testid': 'asks' },
            data.is_requester ? word('you_asked') : word('asks_you', { name: data.requester.name })),
          el('h1', { 'data-testid': 'order-title' }, order.title),
          amountBlock(order.amount),
          statusLine(request.status))];
        if (request.note) nodes.push(el('blockquote', { class: 'note', 'data-testid': 'request-note' }, request.note));
        nodes.push(el('section', { class: 'card' },
          request.mode === 'split' && request.share.minor ? el('p', { class: 'hint', 'data-testid': 'split-between' }, word('split_between', { shares: request.shares, share: request.share.formatted })) : null,
          progress(request, order.amount),
          request.holder_name ? el('p', { class: 'hint', 'data-testid': 'holder' }, word('holder', { name: request.holder_name })) : null,
          data.contributions.length ? el('ul', { class: 'contributions', 'data-testid': 'contributions' },
            data.contributions.map((part) => el('li', {}, el('span', {}, part.name), el('span', {}, part.amount.formatted)))) : null));
        const currency = order.amount.currency;
        if (can.chip_in) {
          const input = el('input', {
            id: 'chip-in', inputmode: 'decimal', autocomplete: 'off', 'data-testid': 'chip-in-amount',
          });
          input.value = screen.chipIn ?? minorToText(request.share.minor, currency);
          input.addEventListener('input', () => { screen.chipIn = input.value; });
          nodes.push(el('section', { class: 'card' },
            el('label', { for: 'chip-in', class: 'label' }, word('chip_in_amount', { currency })),
            input,
            el('p', { class: 'hint' }, word('share_offered', { share: request.share.formatted })),
            data.is_requester ? el('p', { class: 'hint', 'data-testid': 'own-request' }, word('own_request')) : null,
            el('div', { class: 'row' },
              offered.includes('telegram') ? button(word('chip_in_card'), () => chipIn('telegram'), { testid: 'chip-in-telegram' }) : null,
              offered.includes('stars') ? button(word('chip_in_stars'), () => chipIn('stars'), { testid: 'chip-in-stars' }) : null)));
        }
        if (can.pay && !can.chip_in && offered.includes('stars') && offered.includes('telegram')) {
          if (data.is_requester) nodes.push(el('p', { class: 'hint', 'data-testid': 'own-request' }, word('own_request')));
          nodes.push(el('div', { class: 'row' },
            button(word('pay_stars'), () => payByInvoice(`${path}/invoice`, { method: 'stars', amount_minor: null }), { testid: 'pay-stars' })));
        }
        if (data.is_requester) {
          const own = [];
          if (can.share) own.push(button(word('share_again'), shareAgain, { testid: 'share-again' }));
          if (can.remind) own.push(button(word('remind'), remind, { testid: 'remind' }));
          if (can.cancel) own.push(twoTaps(word('cancel_request'), word('cancel_confirm'), cancel, 'cancel-request'));
          if (own.length) nodes.push(el('div', { class: 'row' }, own));
          if (can.remind) nodes.push(el('p', { class: 'hint' }, word('remind_hint')));
        }
        return nodes;
      },
      main: (data) => {
        const { request, can } = data;
        const first = invoiceMethods(data)[0];
        if (!first || data.is_requester) return null; // the one who asked waits for friends: paying is not their main action
        if (can.chip_in) {
          return { text: word(first === 'stars' ? 'chip_in_stars' : 'chip_in_card'), action: () => chipIn(first) };
        }
        if (can.pay) {
          return {
            text: word('pay_for', { amount: request.remaining ? request.remaining.formatted : data.order.amount.formatted }),
            action: () => payByInvoice(`${path}/invoice`, { method: first, amount_minor: null }),
          };
        }
        return null;
      },
    };

    function chipIn(method) {
      const data = screen.data;
      const currency = data.order.amount.currency;
      const typed = screen.chipIn ?? minorToText(data.request.share.minor, currency);
      const minor = textToMinor(typed, currency);
      if (!minor) {
        haptic('error');
        toast(word('bad_amount'));
        return;
      }
      payByInvoice(`${path}/invoice`, { method, amount_minor: minor });
    }

    async function shareAgain() {
      try {
        const { prepared_message_id: prepared } = await api(`${path}/share`, {});
        share(prepared, token);
      } catch (error) {
        toast(error.message);
      }
    }

    async function cancel() {
      await api(`${path}/cancel`, {});
      haptic('success');
      toast(word('cancelled'));
      show();
    }

    // The friends who opened it in a chat with the bot are reminded there; daifu's words say how many (or when
    // again, once they were lately).
    async function remind() {
      try {
        const { words } = await api(`${path}/remind`, {});
        haptic('success');
        toast(words);
        show({ quiet: true });
      } catch (error) {
        haptic('error');
        toast(error.message);
      }
    }

    return screen;
  }

  // --- the admin's new link ----------------------------------------------------------------------------------------

  function newLinkScreen() {
    const screen = {
      name: 'new-link',
      live: false,
      draft: { title: '', amount: '', currency: 'USD' },
      made: null,
      draw: () => {
        if (screen.made) return madeLink(screen.made);
        const field = (name, label, attributes = {}) => {
          const input = el('input', { id: name, autocomplete: 'off', 'data-testid': `link-${name}`, ...attributes });
          input.value = screen.draft[name];
          input.addEventListener('input', () => { screen.draft[name] = input.value; });
          return [el('label', { for: name, class: 'label' }, label), input];
        };
        return [
          el('header', { class: 'top' }, el('h1', {}, word('new_link')), el('p', { class: 'hint' }, word('new_link_hint'))),
          field('title', word('link_title'), { maxlength: 32 }),
          field('amount', word('link_amount'), { inputmode: 'decimal' }),
          field('currency', word('link_currency'), { maxlength: 3 }),
        ];
      },
      main: () => (screen.made ? null : {
        text: word('make_link'),
        action: async () => {
          tg.MainButton.showProgress(false);
          try {
            const { title, amount, currency } = screen.draft;
            const { order } = await api('admin/links', { title: title.trim(), amount: amount.trim(), currency: currency.trim().toUpperCase() });
            screen.made = order;
            haptic('success');
            draw(screen);
          } catch (error) {
            tg.MainButton.hideProgress();
            haptic('error');
            toast(error.message);
          }
        },
      }),
    };

    function madeLink(order) {
      const link = el('input', { readonly: true, value: order.link, 'data-testid': 'made-link' });
      return [
        el('header', { class: 'top' }, el('h1', {}, word('link_ready'))),
        el('img', { class: 'qr', src: order.qr_svg_url, alt: word('qr_alt'), 'data-testid': 'qr' }),
        link,
        el('div', { class: 'row' },
          button(word('copy'), async () => {
            link.select();
            try {
              await navigator.clipboard.writeText(order.link);
              toast(word('copied'));
            } catch (error) {
              toast(word('copy_by_hand'));
            }
          }, { testid: 'copy-link' }),
          button(word('open_order'), () => go(orderScreen(order.token)), { testid: 'open-made' })),
      ];
    }

    return screen;
  }

  // --- start ------------------------------------------------------------------------------------------------------

  function applyTheme() {
    document.documentElement.dataset.scheme = tg.colorScheme === 'dark' ? 'dark' : 'light';
  }

  // A direct link (t.me/<bot>/<app>?startapp=<param>) opens that order or request, and so does a web_app button
  // whose URL carries ?startapp=<param> (Telegram gives those no start_param): r_/o_ say which; a bare token is a
  // request's when daifu knows one by it, else an order's.
  function firstScreens(startParam) {
    const screens = [listScreen()];
    if (!startParam) return screens;
    const [, kind, token] = /^(?:([ro])_)?(.+)$/.exec(startParam);
    if (kind === 'o') screens.push(orderScreen(token));
    else if (kind === 'r') screens.push(requestScreen(startParam)); // a request's token begins with r_ itself
    else {
      const request = requestScreen(token);
      const load = request.load;
      request.load = () => load().catch((error) => {
        if (error.status !== 404) throw error;
        const order = orderScreen(token);
        Object.assign(request, order, { last: null }); // it was an order's token after all
        return order.load();
      });
      screens.push(request);
    }
    return screens;
  }

  // A web_app button's own URL says what to open: ?startapp=<param>, or ?order=<token> / ?request=<token>.
  function startInAddress() {
    const query = new URLSearchParams(window.location.search);
    if (query.get('startapp')) return query.get('startapp');
    if (query.get('order')) return `o_${query.get('order')}`;
    if (query.get('request')) return query.get('request');
    return null;
  }

  async function loadWords(locale) {
    const response = await fetch(`/app/static/words/${locale}.json`);
    return response.json();
  }

  async function boot() {
    const user = tg && tg.initDataUnsafe ? tg.initDataUnsafe.user : null;
    state.locale = localeOf(user ? user.language_code : navigator.language);
    if (!LOCALES.includes(state.locale)) state.locale = 'en';
    document.documentElement.lang = state.locale === 'zh_Hans' ? 'zh-Hans' : 'en';
    state.words = await loadWords(state.locale);
    document.title = word('title');
    if (!tg || !tg.initData) {
      $('screen').replaceChildren(el('section', { class: 'card problem', 'data-testid': 'problem' },
        el('h1', {}, word('open_in_telegram_title')), el('p', {}, word('open_in_telegram'))));
      return;
    }
    applyTheme();
    tg.onEvent('themeChanged', applyTheme);
    tg.MainButton.onClick(() => { if (state.mainAction) state.mainAction(); });
    tg.BackButton.onClick(back);
    tg.ready();
    tg.expand();
    state.stack = firstScreens(tg.initDataUnsafe.start_param || startInAddress());
    await show();
    document.body.dataset.ready = 'true';
    setInterval(poll, POLL_MS);
    document.addEventListener('visibilitychange', poll);
  }

  document.addEventListener('DOMContentLoaded', () => boot().catch((error) => drawError(error)));
})();

// The playground page: pick who you are, open a chat, and use daifu as in Telegram.
// Everything the bot does arrives from the server (JSON API + server-sent events); this script only draws
// it and sends what the person does. Plain browser JavaScript, no build step, no libraries.
(() => {
  'use strict';

  const API = '/playground/api/';
  // Commands worth trying first, by who you are and where: tapping one sends it.
  const SUGGESTIONS = {
    admin: ['/newlink 12.50 USD Coffee beans', '/newlink', '/help'],
    shopper: ['/start', '/my', '/help'],
    group: ['/help'],
  };
  const COLORS = ['#7a8793', '#6b5bc4', '#b54a8a', '#2f6fbd', '#c26a12'];

  const state = {
    locale: 'en',
    locales: {},
    words: {},
    bot: null,
    admin: null,
    people: [],
    chats: [],
    me: null,
    openChats: {}, // person id -> the chat they last looked at
    messages: new Map(), // chat id -> Map(message id -> view), in order
    seen: {}, // person id -> {chat id -> last message id they saw}
    typingUntil: new Map(), // chat id -> time the "typing…" line goes away
    source: null,
    app: null, // the Mini App open in the phone pane: {person, theme, themeParams}
    // The pretend Telegram app's theme, kept from one opening of the app to the next; it starts as the system's,
    // as Telegram's apps do by default.
    appTheme: window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light',
  };

  // --- small helpers ------------------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
      // Through the CSSOM: the page's CSP refuses style attributes written as markup.
      else if (name === 'style') node.style.cssText = String(value);
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    node.append(...children.filter((child) => child !== null && child !== undefined));
    return node;
  }

  function word(key, values = {}) {
    let text = state.words[key] || key;
    for (const [name, value] of Object.entries(values)) text = text.split(`{${name}}`).join(String(value));
    return text;
  }

  async function api(path, body) {
    const url = `${API}${path}?lang=${encodeURIComponent(state.locale)}`;
    const options = body === undefined ? {} : {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    };
    const response = await fetch(url, options);
    const data = await response.json().catch(() => ({ error: response.statusText }));
    if (!response.ok) throw new Error(data.error || response.statusText);
    return data;
  }

  const person = (id) => state.people.find((p) => p.id === id);
  const chatById = (id) => state.chats.find((c) => c.id === id);
  const isMember = (chat, personId) => chat.members.includes(personId);
  // Each person keeps one colour everywhere (tab, avatar, name in the group); the bot has the accent.
  const colorOf = (id) => COLORS[(state.people.findIndex((p) => p.id === id) + 1) % COLORS.length];

  function chatTitle(chat, viewer = state.me) {
    if (chat.kind === 'bot') return state.bot.name;
    if (chat.kind === 'group') return chat.title;
    const other = chat.members.find((id) => id !== viewer);
    return person(other).name;
  }

  function avatar(chat, small = false) {
    const title = chatTitle(chat);
    const color = chat.kind === 'bot' ? 'var(--accent)' : chat.kind === 'group' ? '#7a8793' : colorOf(chat.members.find((id) => id !== state.me));
    return el('span', { class: small ? 'avatar small' : 'avatar', style: `background:${color}`, 'aria-hidden': 'true' },
      chat.kind === 'bot' ? '代' : title.slice(0, 1));
  }

  let toastTimer = null;
  function toast(text) {
    const box = $('toast');
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, 3200);
  }

  function failed(error) {
    toast(word('failed', { error: error.message }));
  }

  // --- messages in memory ---------------------------------------------------------------------------

  function chatMessages(chatId) {
    if (!state.messages.has(chatId)) state.messages.set(chatId, new Map());
    return state.messages.get(chatId);
  }

  function lastId(chatId) {
    let last = 0;
    for (const id of chatMessages(chatId).keys()) last = Math.max(last, id);
    return last;
  }

  function markSeen(personId, chatId) {
    state.seen[personId] = state.seen[personId] || {};
    state.seen[personId][chatId] = lastId(chatId);
  }

  function unread(personId, chat) {
    const seen = (state.seen[personId] || {})[chat.id] || 0;
    let count = 0;
    for (const view of chatMessages(chat.id).values()) {
      if (view.id > seen && view.from.id !== personId) count += 1;
    }
    return count;
  }

  async function loadMessages() {
    const { chats } = await api('messages');
    for (const [chatId, views] of Object.entries(chats)) {
      const messages = new Map();
      for (const view of views) messages.set(view.id, view);
      state.messages.set(Number(chatId), messages);
    }
  }

  // --- live updates (server-sent events) --------------------------------------------------------------

  function connect() {
    if (state.source) state.source.close();
    const source = new EventSource(`${API}events?lang=${encodeURIComponent(state.locale)}`);
    source.onopen = async () => {
      $('banner').hidden = true;
      try {
        await loadMessages(); // whatever happened while the stream was down
        renderAll();
        document.body.dataset.ready = 'true';
      } catch (error) {
        failed(error);
      }
    };
    source.onerror = () => {
      $('banner').textContent = word('reconnecting');
      $('banner').hidden = false;
    };
    source.onmessage = (event) => handle(JSON.parse(event.data));
    state.source = source;
  }

  function handle(event) {
    if (event.type === 'message' || event.type === 'edit') {
      chatMessages(event.chat_id).set(event.message.id, event.message);
      if (event.chat_id === currentChatId()) {
        placeMessage(event.message, event.type === 'message');
        markSeen(state.me, event.chat_id);
      }
      if (event.message.from.is_bot) state.typingUntil.delete(event.chat_id); // it has stopped typing
    } else if (event.type === 'delete') {
      chatMessages(event.chat_id).delete(event.message_id);
      document.getElementById(`m-${event.chat_id}-${event.message_id}`)?.remove();
    } else if (event.type === 'typing') {
      state.typingUntil.set(event.chat_id, Date.now() + 4000);
      setTimeout(renderHead, 4100);
    }
    renderPeople();
    renderChatList();
    renderHead();
  }

  // --- drawing: people, chats, the open chat ------------------------------------------------------------

  function currentChatId() {
    return state.openChats[state.me] ?? state.me; // a person's chat with the bot has their id
  }

  function renderAll() {
    applyWords();
    renderLanguages();
    renderPeople();
    renderChatList();
    renderChat();
  }

  function applyWords() {
    document.documentElement.lang = state.locale === 'zh_Hans' ? 'zh-Hans' : 'en';
    document.title = word('title');
    for (const node of document.querySelectorAll('[data-word]')) node.textContent = word(node.dataset.word);
    for (const node of document.querySelectorAll('[data-word-placeholder]')) {
      node.placeholder = word(node.dataset.wordPlaceholder);
    }
    for (const node of document.querySelectorAll('[data-word-title]')) {
      node.title = word(node.dataset.wordTitle);
      node.setAttribute('aria-label', node.title);
    }
    $('chat-list').setAttribute('aria-label', word('chats'));
    $('languages').setAttribute('aria-label', word('language'));
  }

  function renderLanguages() {
    $('languages').replaceChildren(...Object.entries(state.locales).map(([code, name]) => el('button', {
      type: 'button', 'aria-pressed': String(code === state.locale), 'data-testid': `language-${code}`,
      onclick: () => setLanguage(code),
    }, name)));
  }

  function renderPeople() {
    $('people').replaceChildren(...state.people.map((p) => {
      const hasUnread = p.id !== state.me && state.chats.some((c) => isMember(c, p.id) && unread(p.id, c) > 0);
      return el('button', {
        type: 'button', role: 'tab', class: 'person', 'aria-selected': String(p.id === state.me),
        'data-testid': `person-${p.name.toLowerCase()}`, onclick: () => becomePerson(p.id),
      },
      el('span', { class: 'avatar small', style: `background:${colorOf(p.id)}`, 'aria-hidden': 'true' }, p.name.slice(0, 1)),
      p.name,
      p.id === state.admin ? el('span', { class: 'role' }, word('shop_admin')) : null,
      hasUnread ? el('span', { class: 'dot', 'data-testid': 'unread' }) : null);
    }));
  }

  function preview(view) {
    if (!view) return '';
    if (view.service) return view.service;
    if (view.invoice) return `${view.invoice.title} · ${view.invoice.amount}`;
    const text = view.text || (view.photo ? '🖼' : '');
    return view.from.is_bot || view.from.id === state.me ? text : `${view.from.name}: ${text}`;
  }

  function renderChatList() {
    const current = currentChatId();
    const mine = state.chats.filter((c) => isMember(c, state.me));
    $('chat-list').replaceChildren(...mine.map((chat) => {
      const views = [...chatMessages(chat.id).values()];
      const count = chat.id === current ? 0 : unread(state.me, chat);
      return el('button', {
        type: 'button', class: 'chat-item', 'aria-current': String(chat.id === current),
        'data-testid': 'chat-item', 'data-chat-id': chat.id, 'data-kind': chat.kind, onclick: () => openChat(chat.id),
      },
      avatar(chat),
      el('span', { class: 'names' },
        el('span', { class: 'name' }, chatTitle(chat)),
        el('span', { class: 'preview' }, preview(views[views.length - 1]))),
      count ? el('span', { class: 'badge' }, String(count)) : null);
    }));
  }

  function renderHead() {
    const chat = chatById(currentChatId());
    if (!chat) return;
    $('chat-avatar').replaceWith(Object.assign(avatar(chat), { id: 'chat-avatar' }));
    $('chat-title').textContent = chatTitle(chat);
    $('open-app').hidden = chat.kind !== 'bot'; // the bot's menu button opens its Mini App
    const subtitle = $('chat-subtitle');
    const typing = (state.typingUntil.get(chat.id) || 0) > Date.now();
    subtitle.classList.toggle('typing', typing);
    if (typing) subtitle.textContent = word('typing');
    else if (chat.kind === 'bot') subtitle.textContent = `${word('bot')} · @${state.bot.username}`;
    else if (chat.kind === 'group') {
      const names = chat.members.map((id) => person(id).name).concat(state.bot.name);
      subtitle.textContent = word('group_of', { names: names.join(', ') });
    } else subtitle.textContent = word('direct_hint');
  }

  function renderChat() {
    const chatId = currentChatId();
    const chat = chatById(chatId);
    renderHead();
    const box = $('messages');
    const views = [...chatMessages(chatId).values()];
    box.replaceChildren(...(views.length ? views.map(messageElement) : [emptyChat(chat)]));
    markSeen(state.me, chatId);
    box.scrollTop = box.scrollHeight;
  }

  function emptyChat(chat) {
    const key = chat.kind === 'group' ? 'group' : chat.kind === 'bot' && state.me === state.admin ? 'admin' : 'shopper';
    const ideas = chat.kind === 'direct' ? [] : SUGGESTIONS[key];
    return el('div', { class: 'empty', 'data-testid': 'empty' },
      el('p', {}, chat.kind === 'direct' ? word('direct_empty') : word('empty')),
      el('div', { class: 'suggestions' }, ...ideas.map((text) => el('button', {
        type: 'button', class: 'suggestion', 'data-testid': 'suggestion', onclick: () => send(text),
      }, text))));
  }

  function placeMessage(view, isNew) {
    const box = $('messages');
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    const node = messageElement(view);
    const old = document.getElementById(node.id);
    if (old) {
      old.replaceWith(node);
      return;
    }
    box.querySelector('.empty')?.remove();
    box.append(node);
    if (isNew && (atBottom || view.from.id === state.me)) box.scrollTop = box.scrollHeight;
  }

  // --- one message ---------------------------------------------------------------------------------------

  function messageElement(view) {
    const chat = chatById(view.chat_id);
    const mine = view.from.id === state.me;
    const kind = view.service ? 'service' : mine ? 'mine' : 'theirs';
    const row = el('div', {
      class: `row ${kind}`, id: `m-${view.chat_id}-${view.id}`, 'data-testid': 'message', 'data-message-id': view.id,
    });
    if (view.service) {
      row.append(el('span', { class: 'service-line' }, view.service));
      return row;
    }
    const bubble = el('div', { class: 'bubble' });
    const showName = !mine && chat.kind !== 'bot' && (chat.kind === 'group' || view.via);
    if (showName || view.via) {
      bubble.append(el('div', { class: 'sender', style: `color:${view.from.is_bot ? 'var(--accent)' : colorOf(view.from.id)}` },
        showName ? view.from.name : '', view.via ? el('span', { class: 'via' }, ` ${word('via', { bot: view.via })}`) : null));
    }
    if (view.reply_to) bubble.append(el('div', { class: 'quote' }, el('b', {}, view.reply_to.name), view.reply_to.text));
    if (view.photo) {
      const image = el('img', { class: 'photo', src: view.photo.url, alt: view.text || '', 'data-testid': 'photo' });
      image.addEventListener('load', () => { if (view.chat_id === currentChatId()) keepBottom(); }, { once: true });
      bubble.append(image);
      if (view.scan) {
        bubble.append(el('button', { type: 'button', class: 'scan', 'data-testid': 'scan', onclick: () => chooseScanner(view) },
          word('scan')));
      }
    }
    if (view.document) bubble.append(el('a', { href: view.document.url, download: view.document.name }, `📄 ${view.document.name}`));
    if (view.invoice) bubble.append(invoiceElement(view));
    if (view.text) bubble.append(richText(view.text, view.entities || []));
    bubble.append(el('span', { class: 'meta' }, view.edited ? `${word('edited')} · ` : '', time(view.date)));
    row.append(bubble);
    if (view.buttons.length) row.append(keyboard(view));
    return row;
  }

  function keepBottom() {
    const box = $('messages');
    if (box.scrollHeight - box.scrollTop - box.clientHeight < 400) box.scrollTop = box.scrollHeight;
  }

  function time(seconds) {
    if (!seconds) return '';
    return new Date(seconds * 1000).toLocaleTimeString(state.locale.replace('_', '-'), { hour: '2-digit', minute: '2-digit' });
  }

  function invoiceElement(view) {
    const invoice = view.invoice;
    const hasPayButton = view.buttons.some((row) => row.some((button) => button.kind === 'pay'));
    const sheet = { ...invoice, chat_id: view.chat_id, message_id: view.id };
    return el('div', { class: 'invoice', 'data-testid': 'invoice' },
      el('div', { class: 'label' }, word('invoice')),
      el('div', { class: 'title' }, invoice.title),
      el('div', { class: 'muted' }, invoice.description),
      el('div', { class: 'amount', 'data-testid': 'invoice-amount' }, invoice.amount),
      hasPayButton ? null : el('button', {
        type: 'button', class: 'button pay', 'data-testid': 'invoice-pay', onclick: () => showPaySheet(sheet),
      }, word('pay_amount', { amount: invoice.amount })));
  }

  function keyboard(view) {
    return el('div', { class: 'keyboard', 'data-testid': 'keyboard' }, ...view.buttons.map((row, r) => el('div', { class: 'keys' },
      ...row.map((button, c) => el('button', {
        type: 'button', class: 'key', 'data-kind': button.kind, 'data-testid': 'button',
        onclick: (event) => tap(view, r, c, event.currentTarget),
      }, button.text)))));
  }

  // Telegram's plain text + entities (offsets in UTF-16 code units, as JavaScript strings count) as DOM.
  // The text is cut at every entity edge, and each piece is wrapped in the entities covering it.
  function richText(text, entities) {
    const box = el('div', { class: 'text' });
    const edges = new Set([0, text.length]);
    for (const entity of entities) {
      edges.add(entity.offset);
      edges.add(entity.offset + entity.length);
    }
    const points = [...edges].filter((p) => p >= 0 && p <= text.length).sort((a, b) => a - b);
    for (let i = 0; i < points.length - 1; i += 1) {
      const [start, end] = [points[i], points[i + 1]];
      let node = document.createTextNode(text.slice(start, end));
      const covering = entities
        .filter((e) => e.offset <= start && e.offset + e.length >= end)
        .sort((a, b) => a.length - b.length);
      for (const entity of covering) node = wrapEntity(entity, node, text.slice(entity.offset, entity.offset + entity.length));
      box.append(node);
    }
    return box;
  }

  function wrapEntity(entity, child, whole) {
    const tags = { bold: 'b', italic: 'i', underline: 'u', strikethrough: 's', code: 'code', pre: 'code', blockquote: 'blockquote', expandable_blockquote: 'blockquote' };
    let node;
    if (entity.type === 'url') node = linkElement(/^[a-z]+:\/\//i.test(whole) ? whole : `https://${whole}`);
    else if (entity.type === 'text_link') node = linkElement(entity.url);
    else if (entity.type === 'bot_command') {
      node = el('a', { href: '#', class: 'command', onclick: (event) => { event.preventDefault(); send(whole); } });
    } else if (entity.type === 'spoiler') node = el('span', { class: 'spoiler' });
    else if (entity.type === 'date_time') return dateTime(entity, child);
    else node = el(tags[entity.type] || 'span');
    node.append(child);
    return node;
  }

  // A date_time entity as a Telegram app draws it: the moment in the reader's own time zone and language, in the
  // entity's format (r: relative; w: weekday, d/D: short/long date, t/T: short/long time); no format: the text.
  function dateTime(entity, text) {
    const moment = new Date(entity.unix_time * 1000);
    const format = entity.date_time_format || '';
    const node = el('time', { datetime: moment.toISOString(), title: moment.toString() });
    if (format === 'r') {
      const minutes = Math.round((moment.getTime() - Date.now()) / 60000);
      const [value, unit] = Math.abs(minutes) < 60 ? [minutes, 'minute']
        : Math.abs(minutes) < 2880 ? [Math.round(minutes / 60), 'hour'] : [Math.round(minutes / 1440), 'day'];
      node.append(new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }).format(value, unit));
    } else if (format) {
      const options = {};
      if (format.includes('w')) options.weekday = 'short';
      if (format.includes('d')) Object.assign(options, { month: 'numeric', day: 'numeric' });
      if (format.includes('D')) Object.assign(options, { year: 'numeric', month: 'long', day: 'numeric' });
      if (format.includes('t')) Object.assign(options, { hour: '2-digit', minute: '2-digit' });
      if (format.includes('T')) Object.assign(options, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
      node.append(moment.toLocaleString(undefined, options));
    } else node.append(text);
    return node;
  }

  function linkElement(url) {
    return el('a', {
      href: url, target: '_blank', rel: 'noopener',
      onclick: (event) => {
        // Telegram links are opened inside the playground: a deep link opens the chat with the bot.
        if (!/^(https?:\/\/)?(t|telegram)\.me\//i.test(url) && !url.startsWith('tg:')) return;
        event.preventDefault();
        api('link', { person: state.me, url }).then(follow, failed);
      },
    });
  }

  // --- what a person does ---------------------------------------------------------------------------------

  async function send(text) {
    try {
      await api('send', { person: state.me, chat: currentChatId(), text });
    } catch (error) {
      failed(error);
    }
  }

  async function tap(view, row, column, button) {
    button.disabled = true;
    try {
      follow(await api('tap', { person: state.me, chat: view.chat_id, message: view.id, row, column }));
    } catch (error) {
      failed(error);
    } finally {
      button.disabled = false;
    }
  }

  // The server says what comes next after an action; do it.
  function follow(reply) {
    if (reply.answer && reply.answer.text) {
      if (reply.answer.alert) showAlert(reply.answer.text);
      else toast(reply.answer.text);
    }
    if (reply.person && reply.person !== state.me) becomePerson(reply.person);
    if (reply.open_chat) openChat(reply.open_chat);
    if (reply.open_url) {
      window.open(reply.open_url, '_blank', 'noopener');
      toast(word('opened_tab', { url: reply.open_url }));
    }
    if (reply.share) showChatPicker(reply.share);
    if (reply.app) openApp({ url: reply.app.url || null, start: reply.app.start || null });
    if (reply.pay) showPaySheet(reply.pay);
    if (reply.copied) {
      navigator.clipboard?.writeText(reply.copied).catch(() => {});
      toast(word('copied', { text: reply.copied }));
    }
  }

  function becomePerson(id) {
    if (state.app && state.app.person !== id) closeApp(); // the pane is one person's phone
    state.me = id;
    $('toast').hidden = true; // it was news for the person before
    localStorage.setItem('daifu.playground.me', String(id));
    renderPeople();
    renderChatList();
    renderChat();
  }

  function openChat(chatId) {
    state.openChats[state.me] = chatId;
    renderPeople();
    renderChatList();
    renderChat();
  }

  async function setLanguage(locale) {
    try {
      const answer = await api('language', { locale });
      state.locale = answer.locale;
      state.words = answer.words;
      localStorage.setItem('daifu.playground.locale', state.locale);
      connect(); // the stream draws amounts and payment lines in the page's language
    } catch (error) {
      failed(error);
    }
  }

  // --- sheets ----------------------------------------------------------------------------------------------

  function openSheet(...children) {
    const sheet = $('sheet');
    sheet.replaceChildren(el('div', { class: 'inner' }, ...children));
    if (!sheet.open) sheet.showModal();
    return sheet;
  }

  function closeSheet() {
    $('sheet').close();
  }

  function closeButton(key = 'cancel') {
    return el('button', { type: 'button', class: 'button secondary', 'data-testid': 'sheet-close', onclick: closeSheet }, word(key));
  }

  function showAlert(text) {
    openSheet(el('p', { 'data-testid': 'alert' }, text), el('div', { class: 'actions' }, closeButton('close')));
  }

  // onClosed (the Mini App's openInvoice) hears how the sheet ended: paid, failed or cancelled.
  function showPaySheet(pay, onClosed) {
    let outcome = 'cancelled';
    if (onClosed) $('sheet').addEventListener('close', () => onClosed(outcome), { once: true });
    const error = el('div', { class: 'error', role: 'alert', 'data-testid': 'pay-error', hidden: true });
    const payButton = el('button', { type: 'button', class: 'button', 'data-testid': 'pay-confirm' }, word('pay_amount', { amount: pay.amount }));
    payButton.addEventListener('click', async () => {
      payButton.disabled = true;
      payButton.textContent = word('paying');
      const target = pay.link ? { link: pay.link } : { chat: pay.chat_id, message: pay.message_id };
      try {
        const answer = await api('pay', { person: state.me, ...target });
        if (answer.refused !== undefined) {
          outcome = 'failed';
          error.replaceChildren(el('b', {}, word('refused')), ' ', answer.refused);
          error.hidden = false;
          payButton.remove();
          return;
        }
        outcome = 'paid';
        closeSheet();
        toast(word('payment_sent'));
      } catch (failure) {
        error.textContent = word('failed', { error: failure.message });
        error.hidden = false;
        payButton.disabled = false;
        payButton.textContent = word('pay_amount', { amount: pay.amount });
      }
    });
    openSheet(
      el('h3', {}, word('payment')),
      el('div', {}, el('div', { 'data-testid': 'pay-title' }, el('b', {}, pay.title)), el('div', { class: 'muted' }, pay.description)),
      el('div', { class: 'big', 'data-testid': 'pay-amount' }, pay.amount),
      el('div', { class: 'muted' }, word('pay_as', { name: person(state.me).name }), ' · ', word('test_payment')),
      error,
      el('div', { class: 'actions' }, closeButton(), payButton),
    );
  }

  function showChatPicker(share) {
    if (share.prepared) {
      showPreparedPicker(share);
      return;
    }
    if (share.here) {
      showInlineResults(currentChatId(), share.query);
      return;
    }
    const choices = share.chats.map(chatById).filter(Boolean).map((chat) => el('button', {
      type: 'button', class: 'choice', 'data-testid': 'pick-chat', 'data-chat-id': chat.id,
      onclick: () => showInlineResults(chat.id, share.query),
    }, avatar(chat, true), chatTitle(chat)));
    openSheet(el('h3', {}, word('choose_chat')), el('div', { class: 'choices' }, ...choices),
      el('div', { class: 'actions' }, closeButton()));
  }

  // The app's shareMessage: pick a chat, and the prepared message is posted there as the person's, via the bot.
  function showPreparedPicker(share) {
    let sent = false;
    $('sheet').addEventListener('close', () => { if (!sent) share.onDone(false); }, { once: true });
    const choices = share.chats.map(chatById).filter(Boolean).map((chat) => el('button', {
      type: 'button', class: 'choice', 'data-testid': 'pick-chat', 'data-chat-id': chat.id,
      onclick: async (event) => {
        event.currentTarget.disabled = true;
        try {
          await api('share_prepared', { person: share.person, chat: chat.id, prepared: share.prepared });
          sent = true;
          closeSheet();
          share.onDone(true);
        } catch (error) {
          closeSheet();
          failed(error);
        }
      },
    }, avatar(chat, true), chatTitle(chat)));
    openSheet(el('h3', {}, word('share_to')), el('div', { class: 'choices' }, ...choices),
      el('div', { class: 'actions' }, closeButton()));
  }

  async function showInlineResults(chatId, query) {
    const chat = chatById(chatId);
    const list = el('div', { class: 'choices', 'data-testid': 'inline-results', 'aria-busy': 'true' });
    openSheet(el('h3', {}, word('pick_result')), el('div', { class: 'muted' }, `${chatTitle(chat)} · @${state.bot.username} ${query}`),
      list, el('div', { class: 'actions' }, closeButton()));
    try {
      const { results } = await api('inline', { person: state.me, chat: chatId, query });
      list.removeAttribute('aria-busy');
      if (!results.length) list.append(el('p', { class: 'muted' }, word('no_results')));
      for (const result of results) {
        list.append(el('button', {
          type: 'button', class: 'choice', 'data-testid': 'inline-result', 'data-result-id': result.id,
          onclick: async (event) => {
            event.currentTarget.disabled = true;
            try {
              const reply = await api('choose', { person: state.me, chat: chatId, result: result.id });
              closeSheet();
              follow(reply);
            } catch (error) {
              failed(error);
            }
          },
        }, el('span', {}, el('b', {}, result.title), result.description ? el('span', { class: 'description' }, result.description) : null)));
      }
    } catch (error) {
      closeSheet();
      failed(error);
    }
  }

  function chooseScanner(view) {
    const choices = state.people.map((p) => el('button', {
      type: 'button', class: 'choice', 'data-testid': 'scanner', 'data-name': p.name,
      onclick: async () => {
        try {
          const reply = await api('scan', { person: state.me, chat: view.chat_id, message: view.id, scanner: p.id });
          closeSheet();
          follow(reply);
        } catch (error) {
          failed(error);
        }
      },
    }, el('span', { class: 'avatar small', style: `background:${colorOf(p.id)}` }, p.name.slice(0, 1)), p.name));
    openSheet(el('h3', {}, word('who_scans')), el('div', { class: 'choices' }, ...choices), el('div', { class: 'actions' }, closeButton()));
  }

  // --- the Mini App in the phone pane: this page plays the Telegram app's part ------------------------------------
  //
  // The app (in the frame) runs telegram-web-app.js's protocol: it posts {eventType, eventData} as JSON to this page
  // and hears this page's answers. Only the frame's own messages, from daifu's own origin, are read.

  function toApp(eventType, eventData = {}) {
    const frame = $('app-frame');
    if (frame.contentWindow) frame.contentWindow.postMessage(JSON.stringify({ eventType, eventData }), window.location.origin);
  }

  async function openApp({ start = null, url = null } = {}) {
    const theme = state.appTheme;
    try {
      const answer = await api('app', { person: state.me, start, url, theme });
      if (answer.open_url) {
        follow({ open_url: answer.open_url });
        return;
      }
      state.app = { person: state.me, theme, themeParams: null, mainVisible: false };
      const pane = $('app-pane');
      pane.dataset.theme = theme;
      pane.dataset.person = String(state.me);
      delete pane.dataset.haptic;
      $('app-main').hidden = true;
      $('app-back').hidden = true;
      $('app-frame').src = answer.url;
      pane.hidden = false;
    } catch (error) {
      failed(error);
    }
  }

  function closeApp() {
    state.app = null;
    $('app-pane').hidden = true;
    $('app-frame').removeAttribute('src');
  }

  async function toggleTheme() {
    if (!state.app) return;
    const theme = state.app.theme === 'dark' ? 'light' : 'dark';
    try {
      // The same colours the pane's launch carried, asked of the server for the other theme.
      const answer = await api('app', { person: state.app.person, theme });
      const params = new URLSearchParams(answer.url.split('#')[1]);
      state.app.theme = theme;
      state.appTheme = theme;
      $('app-pane').dataset.theme = theme;
      state.app.themeParams = JSON.parse(params.get('tgWebAppThemeParams'));
      toApp('theme_changed', { theme_params: state.app.themeParams });
    } catch (error) {
      failed(error);
    }
  }

  function themeParamsNow() {
    if (state.app.themeParams) return state.app.themeParams;
    const launch = new URLSearchParams(($('app-frame').getAttribute('src') || '').split('#')[1] || '');
    state.app.themeParams = JSON.parse(launch.get('tgWebAppThemeParams') || '{}');
    return state.app.themeParams;
  }

  function setMainButton(params) {
    const main = $('app-main');
    main.hidden = !params.is_visible;
    if (!params.is_visible) return;
    main.textContent = params.text;
    main.disabled = params.is_active === false;
    main.dataset.progress = String(Boolean(params.is_progress_visible));
    if (params.color) main.style.background = params.color;
    if (params.text_color) main.style.color = params.text_color;
  }

  function appInvoice(slug) {
    const link = `https://t.me/$${slug}`;
    api('link', { person: state.app.person, url: link }).then((reply) => {
      if (!reply.pay) throw new Error(reply.error || 'not an invoice');
      showPaySheet(reply.pay, (status) => {
        toApp('invoice_closed', { slug, status });
      });
    }).catch((error) => {
      failed(error);
      toApp('invoice_closed', { slug, status: 'failed' });
    });
  }

  function appShare(prepared) {
    const mine = state.chats.filter((chat) => isMember(chat, state.app.person) && chat.kind !== 'bot');
    showChatPicker({
      prepared, person: state.app.person, chats: mine.map((chat) => chat.id),
      onDone: (sent) => (sent ? toApp('prepared_message_sent') : toApp('prepared_message_failed', { error: 'USER_DECLINED' })),
    });
  }

  function appSwitchInline(query, chatTypes) {
    const kinds = { users: 'direct', bots: 'bot', groups: 'group', channels: 'channel' };
    const wanted = new Set((chatTypes || []).map((type) => kinds[type]));
    const mine = state.chats.filter((chat) => isMember(chat, state.app.person) && (!wanted.size || wanted.has(chat.kind)));
    closeApp(); // Telegram leaves the app for the chat picker
    showChatPicker({ query, chats: mine.map((chat) => chat.id), here: false });
  }

  const FROM_APP = {
    iframe_ready: () => {},
    web_app_ready: () => { $('app-pane').dataset.ready = 'true'; },
    web_app_expand: () => {},
    web_app_request_theme: () => toApp('theme_changed', { theme_params: themeParamsNow() }),
    web_app_request_viewport: () => toApp('viewport_changed', {
      height: $('app-frame').clientHeight, is_expanded: true, is_state_stable: true,
    }),
    web_app_request_safe_area: () => toApp('safe_area_changed', { top: 0, bottom: 0, left: 0, right: 0 }),
    web_app_request_content_safe_area: () => toApp('content_safe_area_changed', { top: 0, bottom: 0, left: 0, right: 0 }),
    web_app_setup_main_button: setMainButton,
    web_app_setup_back_button: (data) => { $('app-back').hidden = !data.is_visible; },
    web_app_trigger_haptic_feedback: (data) => {
      $('app-pane').dataset.haptic = data.notification_type || data.impact_style || data.type;
    },
    web_app_open_invoice: (data) => appInvoice(data.slug),
    web_app_send_prepared_message: (data) => appShare(data.id),
    web_app_switch_inline_query: (data) => appSwitchInline(data.query, data.chat_types),
    web_app_open_link: (data) => follow({ open_url: data.url }),
    web_app_open_tg_link: (data) => api('link', { person: state.app.person, url: `https://t.me${data.path_full}` }).then(follow, failed),
    web_app_close: closeApp,
  };

  window.addEventListener('message', (event) => {
    if (!state.app || event.source !== $('app-frame').contentWindow || event.origin !== window.location.origin) return;
    let message;
    try {
      message = JSON.parse(event.data);
    } catch (error) {
      return;
    }
    const handle = message && FROM_APP[message.eventType];
    if (handle) handle(message.eventData || {});
  });

  // --- start ------------------------------------------------------------------------------------------------

  async function boot() {
    const asked = new URLSearchParams(window.location.search).get('lang');
    const saved = localStorage.getItem('daifu.playground.locale');
    state.locale = asked || saved || (navigator.language.toLowerCase().startsWith('zh') ? 'zh_Hans' : 'en');
    const world = await api('world');
    Object.assign(state, {
      bot: world.bot, admin: world.admin, people: world.people, chats: world.chats, locales: world.locales,
      words: world.words, locale: world.locale,
    });
    const remembered = Number(localStorage.getItem('daifu.playground.me'));
    state.me = person(remembered) ? remembered : world.admin;
    // The pretend Telegram apps speak the page's language, so the bot answers in it too.
    await api('language', { locale: state.locale });
    await loadMessages();
    for (const p of state.people) for (const chat of state.chats) markSeen(p.id, chat.id);
    renderAll();
    $('composer').addEventListener('submit', (event) => {
      event.preventDefault();
      const input = $('text');
      const text = input.value.trim();
      if (!text) return;
      input.value = '';
      send(text);
    });
    $('sheet').addEventListener('click', (event) => { if (event.target === $('sheet')) closeSheet(); });
    $('open-app').addEventListener('click', () => openApp());
    $('app-close').addEventListener('click', closeApp);
    $('app-theme').addEventListener('click', toggleTheme);
    $('app-main').addEventListener('click', () => toApp('main_button_pressed'));
    $('app-back').addEventListener('click', () => toApp('back_button_pressed'));
    connect();
  }

  document.addEventListener('DOMContentLoaded', () => boot().catch(failed));
})();

// daifu's stand-in for Telegram's telegram-web-app.js, served only offline (MINIAPP_LOCAL_SDK: the playground and
// the browser tests), where https://telegram.org/js/telegram-web-app.js cannot be loaded.
//
// It is written here, not copied: a small part of the documented Telegram.WebApp object (core.telegram.org/bots/
// webapps), the part daifu's app uses, speaking the same protocol Telegram's script speaks inside a web client's
// frame: it reads the launch parameters from the URL's fragment (tgWebAppData, tgWebAppThemeParams,
// tgWebAppVersion, tgWebAppPlatform, tgWebAppBotInline), posts {"eventType": ..., "eventData": ...} as JSON to the
// parent window (web_app_open_invoice, web_app_setup_main_button, ...) and takes the parent's events back
// (invoice_closed, theme_changed, main_button_pressed, back_button_pressed, prepared_message_sent, ...).
// Whatever answers those events (the playground's phone pane) stands in for the Telegram app.
(() => {
  'use strict';

  const params = new URLSearchParams(window.location.hash.replace(/^#/, ''));
  const inFrame = window.parent !== window;
  const handlers = {}; // event name -> [callback]

  function postEvent(eventType, eventData = '') {
    if (!inFrame) return false;
    // Telegram's script posts to any parent origin; the stand-in runs only under daifu's own pages.
    window.parent.postMessage(JSON.stringify({ eventType, eventData }), window.location.origin);
    return true;
  }

  function emit(name, ...args) {
    for (const callback of handlers[name] || []) {
      try {
        callback.apply(WebApp, args);
      } catch (error) {
        console.error(error);
      }
    }
  }

  function parseJson(text, fallback) {
    try {
      return text ? JSON.parse(text) : fallback;
    } catch (error) {
      return fallback;
    }
  }

  // --- launch parameters -------------------------------------------------------------------------------------

  const initData = params.get('tgWebAppData') || '';
  const initDataUnsafe = {};
  for (const [key, value] of new URLSearchParams(initData)) {
    initDataUnsafe[key] = /^[[{]/.test(value) ? parseJson(value, value) : value;
  }
  if (initDataUnsafe.auth_date) initDataUnsafe.auth_date = Number(initDataUnsafe.auth_date);
  const version = params.get('tgWebAppVersion') || '6.0';

  function versionAtLeast(wanted) {
    const have = version.split('.').map(Number);
    const need = String(wanted).split('.').map(Number);
    for (let i = 0; i < Math.max(have.length, need.length); i += 1) {
      if ((have[i] || 0) !== (need[i] || 0)) return (have[i] || 0) > (need[i] || 0);
    }
    return true;
  }

  // --- theme and safe areas, as CSS variables like Telegram's script sets them -----------------------------------

  const root = document.documentElement.style;
  const themeParams = {};
  let colorScheme = 'light';

  function isDark(hex) {
    const [r, g, b] = [1, 3, 5].map((at) => parseInt(hex.slice(at, at + 2), 16));
    return Math.sqrt(0.299 * r * r + 0.587 * g * g + 0.114 * b * b) < 120;
  }

  function setTheme(theme) {
    for (const [key, value] of Object.entries(theme || {})) {
      if (!/^#[0-9a-f]{6}$/i.test(String(value))) continue;
      themeParams[key] = value.toLowerCase();
      root.setProperty(`--tg-theme-${key.split('_').join('-')}`, themeParams[key]);
      if (key === 'bg_color') {
        colorScheme = isDark(themeParams[key]) ? 'dark' : 'light';
        root.setProperty('--tg-color-scheme', colorScheme);
      }
    }
  }

  function setInsets(prefix, insets) {
    for (const side of ['top', 'bottom', 'left', 'right']) {
      root.setProperty(`--tg-${prefix}-inset-${side}`, `${Number((insets || {})[side]) || 0}px`);
    }
  }

  setTheme(parseJson(params.get('tgWebAppThemeParams'), {}));
  const safeAreaInset = { top: 0, bottom: 0, left: 0, right: 0 };
  const contentSafeAreaInset = { top: 0, bottom: 0, left: 0, right: 0 };

  // --- the buttons Telegram draws around the app ------------------------------------------------------------------

  function bottomButton(defaultText) {
    const state = { text: defaultText, is_visible: false, is_active: true, is_progress_visible: false };
    let sent = '';
    const button = {
      get text() { return state.text; },
      get isVisible() { return state.is_visible; },
      get isActive() { return state.is_active; },
      get isProgressVisible() { return state.is_progress_visible; },
      setParams(changes) {
        if (changes.text !== undefined) state.text = String(changes.text).trim().slice(0, 64) || state.text;
        if (changes.is_visible !== undefined) state.is_visible = Boolean(changes.is_visible);
        if (changes.is_active !== undefined) state.is_active = Boolean(changes.is_active);
        if (changes.color !== undefined) state.color = changes.color;
        if (changes.text_color !== undefined) state.text_color = changes.text_color;
        const wanted = JSON.stringify(state);
        if (wanted !== sent) {
          sent = wanted;
          postEvent('web_app_setup_main_button', { ...state });
        }
        return button;
      },
      setText: (text) => button.setParams({ text }),
      show: () => button.setParams({ is_visible: true }),
      hide: () => button.setParams({ is_visible: false }),
      enable: () => button.setParams({ is_active: true }),
      disable: () => button.setParams({ is_active: false }),
      showProgress(leaveActive) {
        state.is_progress_visible = true;
        return button.setParams({ is_active: Boolean(leaveActive) });
      },
      hideProgress() {
        state.is_progress_visible = false;
        return button.setParams({ is_active: true });
      },
      onClick(callback) { WebApp.onEvent('mainButtonClicked', callback); return button; },
      offClick(callback) { WebApp.offEvent('mainButtonClicked', callback); return button; },
    };
    return button;
  }

  const MainButton = bottomButton('Continue');
  let backVisible = false;
  const BackButton = {
    get isVisible() { return backVisible; },
    show() { if (!backVisible) { backVisible = true; postEvent('web_app_setup_back_button', { is_visible: true }); } return BackButton; },
    hide() { if (backVisible) { backVisible = false; postEvent('web_app_setup_back_button', { is_visible: false }); } return BackButton; },
    onClick(callback) { WebApp.onEvent('backButtonClicked', callback); return BackButton; },
    offClick(callback) { WebApp.offEvent('backButtonClicked', callback); return BackButton; },
  };

  const HapticFeedback = {
    impactOccurred(style) { postEvent('web_app_trigger_haptic_feedback', { type: 'impact', impact_style: style }); return HapticFeedback; },
    notificationOccurred(type) {
      postEvent('web_app_trigger_haptic_feedback', { type: 'notification', notification_type: type });
      return HapticFeedback;
    },
    selectionChanged() { postEvent('web_app_trigger_haptic_feedback', { type: 'selection_change' }); return HapticFeedback; },
  };

  // --- what the app asks of Telegram, and the answers that come back ---------------------------------------------

  const invoiceCallbacks = {}; // slug -> callback(status)
  let shareCallback = null;

  function openInvoice(url, callback) {
    const match = /^https?:\/\/t\.me\/(?:\$|invoice\/)([A-Za-z0-9_-]+)$/.exec(url);
    if (!match) throw new Error('WebAppInvoiceUrlInvalid');
    const slug = match[1];
    if (invoiceCallbacks[slug]) throw new Error('WebAppInvoiceOpened');
    invoiceCallbacks[slug] = callback || null;
    postEvent('web_app_open_invoice', { slug });
  }

  function shareMessage(id, callback) {
    if (!versionAtLeast('8.0')) throw new Error('WebAppMethodUnsupported');
    if (shareCallback) throw new Error('WebAppShareMessageOpened');
    shareCallback = callback || (() => {});
    postEvent('web_app_send_prepared_message', { id });
  }

  function switchInlineQuery(query, chatTypes) {
    if (params.get('tgWebAppBotInline') !== '1') throw new Error('WebAppInlineModeDisabled');
    postEvent('web_app_switch_inline_query', { query, chat_types: chatTypes || [] });
  }

  const received = {
    theme_changed(data) { setTheme(data.theme_params); emit('themeChanged'); },
    main_button_pressed() { if (MainButton.isActive) emit('mainButtonClicked'); },
    back_button_pressed() { emit('backButtonClicked'); },
    invoice_closed(data) {
      const callback = invoiceCallbacks[data.slug];
      delete invoiceCallbacks[data.slug];
      if (callback) callback(data.status);
      emit('invoiceClosed', { url: `https://t.me/$${data.slug}`, status: data.status });
    },
    prepared_message_sent() {
      const callback = shareCallback;
      shareCallback = null;
      if (callback) callback(true);
      emit('shareMessageSent');
    },
    prepared_message_failed(data) {
      const callback = shareCallback;
      shareCallback = null;
      if (callback) callback(false);
      emit('shareMessageFailed', { error: data && data.error });
    },
    safe_area_changed(data) { Object.assign(safeAreaInset, data); setInsets('safe-area', data); emit('safeAreaChanged'); },
    content_safe_area_changed(data) {
      Object.assign(contentSafeAreaInset, data);
      setInsets('content-safe-area', data);
      emit('contentSafeAreaChanged');
    },
    viewport_changed(data) {
      if (data.height) root.setProperty('--tg-viewport-height', `${data.height}px`);
      emit('viewportChanged', { isStateStable: Boolean(data.is_state_stable) });
    },
  };

  window.addEventListener('message', (event) => {
    if (event.source !== window.parent || event.origin !== window.location.origin) return;
    const message = parseJson(event.data, null);
    if (!message || typeof message.eventType !== 'string') return;
    const handle = received[message.eventType];
    if (handle) handle(message.eventData || {});
  });

  const WebApp = {
    initData,
    initDataUnsafe,
    version,
    platform: params.get('tgWebAppPlatform') || 'unknown',
    get colorScheme() { return colorScheme; },
    themeParams,
    safeAreaInset,
    contentSafeAreaInset,
    isExpanded: true,
    MainButton,
    BackButton,
    HapticFeedback,
    isVersionAtLeast: versionAtLeast,
    onEvent(name, callback) { (handlers[name] = handlers[name] || []).push(callback); },
    offEvent(name, callback) { handlers[name] = (handlers[name] || []).filter((known) => known !== callback); },
    ready() { postEvent('web_app_ready'); },
    expand() { postEvent('web_app_expand'); },
    close() { postEvent('web_app_close'); },
    openInvoice,
    shareMessage,
    switchInlineQuery,
    openLink(url) { if (!postEvent('web_app_open_link', { url })) window.open(url, '_blank', 'noopener'); },
    openTelegramLink(url) { postEvent('web_app_open_tg_link', { path_full: url.replace(/^https?:\/\/t\.me/, '') }); },
  };

  window.Telegram = window.Telegram || {};
  window.Telegram.WebApp = WebApp;
  // As Telegram's script does at start: ask the app around for the theme, the viewport and the safe areas.
  postEvent('iframe_ready', { reload_supported: false });
  postEvent('web_app_request_theme');
  postEvent('web_app_request_viewport');
  postEvent('web_app_request_safe_area');
  postEvent('web_app_request_content_safe_area');
})();

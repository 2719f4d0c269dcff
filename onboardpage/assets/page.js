/*
 * Dualhook onboarding page: launches Meta's Embedded Signup and reports its
 * outcome to POST {callbackUrl}. Inlined with the response's CSP nonce; the
 * configuration comes from the JSON element #dh-config (never from string
 * concatenation in the template).
 *
 * Meta's quirks this code is shaped by (reference/meta.md §1):
 * - FB.login must run inside the click handler, or popup blockers stop it;
 * - its callback must be a plain function (the SDK rejects async ones);
 * - the code (FB.login callback) and the WA_EMBEDDED_SIGNUP message event
 *   arrive in either order, and the event may never come;
 * - the window also receives SDK chatter (non-JSON strings, some containing
 *   "code="), which must be ignored.
 */
(function () {
  'use strict';

  var EVENT_WAIT_MS = 3000; // after the code: how long to wait for the message event
  var CLOSE_GRACE_MS = 1500; // after a login without a code: how long to wait for CANCEL/ERROR
  var REDIRECT_DELAY_MS = 1500; // how long the outcome stays on screen before navigating
  var SDK_TIMEOUT_MS = 20000;
  var REQUEST_TIMEOUT_MS = 30000; // the callback handler answers within 20 s
  var POLL_FIRST_MS = 1000;
  var POLL_MAX_MS = 5000;
  var POLL_BUDGET_MS = 180000; // then show "still working" with a "check again" button

  var FINISH_EVENTS = {
    FINISH: true,
    FINISH_ONLY_WABA: true,
    FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING: true,
    FINISH_GRANT_ONLY_API_ACCESS: true
  };
  // CANCEL carries current_step or error_message; ERROR is the legacy error
  // event. The two Coexistence variants are legacy spellings of the same.
  var END_EVENTS = {
    CANCEL: 'CANCEL',
    ERROR: 'ERROR',
    CANCEL_WHATSAPP_BUSINESS_APP_ONBOARDING: 'CANCEL',
    ERROR_WHATSAPP_BUSINESS_APP_ONBOARDING: 'ERROR'
  };
  var TERMINAL = { completed: 'success', cancelled: 'cancelled', failed: 'failed', expired: 'expired' };
  var MAX_FIELD = 2000;

  var cfg = JSON.parse(document.getElementById('dh-config').textContent);
  var nonce = (document.currentScript && document.currentScript.nonce) || '';
  var body = document.body;
  var panels = document.querySelectorAll('[data-panel]');
  var connectButton = byId('dh-connect');
  var connectLabel = byId('dh-connect-label');
  var retryNote = byId('dh-retry-note');
  var failedNote = byId('dh-failed-note');
  var live = byId('dh-live');
  var redirectNote = byId('dh-redirect');
  var redirectLink = byId('dh-redirect-link');

  var state = body.getAttribute('data-state') || 'loading';
  var sdkReady = false;
  var sdkTimer = 0;
  var attempt = null; // the Embedded Signup launched by the last click
  var postedCodes = Object.create(null); // a code is posted at most once, whatever happens
  var poller = null;

  function byId(id) {
    return document.getElementById(id);
  }

  // Lookups in the tables above never reach Object.prototype ("constructor").
  function own(table, key) {
    return typeof key === 'string' && Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined;
  }

  // ---- UI states -------------------------------------------------------

  function panelFor(name) {
    return name === 'loading' ? 'ready' : name;
  }

  // Moves focus to the new panel (its heading, or the connect button) so
  // keyboard users never sit on a button that just disappeared; quiet skips
  // that for changes the user did not cause (the SDK finished loading).
  function setState(name, quiet) {
    var changed = name !== state;
    state = name;
    body.setAttribute('data-state', name);
    var shown = panelFor(name);
    var panel = null;
    for (var i = 0; i < panels.length; i++) {
      var match = panels[i].getAttribute('data-panel') === shown;
      panels[i].hidden = !match;
      if (match) {
        panel = panels[i];
      }
    }
    connectButton.disabled = name !== 'ready';
    connectButton.setAttribute('aria-busy', name === 'loading' ? 'true' : 'false');
    if (name !== 'success' && name !== 'cancelled' && name !== 'failed') {
      redirectNote.hidden = true;
    }
    if (!changed || !panel || name === 'loading') {
      return;
    }
    announce(panel);
    if (!quiet) {
      var target = name === 'ready' ? connectButton : panel.querySelector('h1, h2');
      if (target) {
        target.focus();
      }
    }
  }

  // The live region repeats the visible panel's heading and first sentence,
  // so screen readers hear each change without the focus moving around.
  function announce(panel) {
    var parts = [];
    var heading = panel.querySelector('h1, h2');
    if (heading) {
      parts.push(heading.textContent);
    }
    if (panel.getAttribute('data-panel') === 'ready') {
      if (!retryNote.hidden) {
        parts.push(retryNote.textContent);
      }
      if (!failedNote.hidden) {
        parts.push(failedNote.textContent);
      }
    } else {
      var p = panel.querySelector('p');
      if (p) {
        parts.push(p.textContent);
      }
    }
    live.textContent = parts.join('. ').replace(/\s+/g, ' ');
  }

  // showReady offers Embedded Signup (again). retry: the Meta window closed without an outcome;
  // failed: the last attempt failed on our side or Meta's, and the server opened the session
  // for a fresh attempt.
  function showReady(retry, failed) {
    retryNote.hidden = !retry || !!failed;
    failedNote.hidden = !failed;
    connectLabel.textContent = retry || failed ? 'Try again' : 'Connect WhatsApp';
    if (sdkReady) {
      setState('ready');
    } else {
      setState('loading');
    }
  }

  // ---- Meta SDK --------------------------------------------------------

  function sdkFailed() {
    clearTimeout(sdkTimer);
    if (!sdkReady && (state === 'loading' || state === 'ready')) {
      setState('unavailable');
    }
  }

  function loadSDK() {
    window.fbAsyncInit = function () {
      clearTimeout(sdkTimer);
      try {
        window.FB.init({
          appId: cfg.appId,
          version: cfg.graphVersion,
          xfbml: false,
          autoLogAppEvents: false
        });
      } catch (err) {
        sdkFailed();
        return;
      }
      sdkReady = true;
      if (state === 'loading') {
        setState('ready', true);
      }
    };
    var s = document.createElement('script');
    s.src = cfg.sdkUrl;
    s.async = true;
    s.defer = true;
    s.crossOrigin = 'anonymous';
    if (nonce) {
      s.nonce = nonce;
    }
    s.addEventListener('error', sdkFailed);
    sdkTimer = setTimeout(sdkFailed, SDK_TIMEOUT_MS);
    document.head.appendChild(s);
  }

  // Must stay synchronous: the popup may only open from the click itself.
  function launch() {
    if (state !== 'ready' || !sdkReady) {
      return;
    }
    if (attempt) {
      clearTimeout(attempt.timer);
    }
    var a = {
      code: '',
      event: '',
      wabaId: '',
      phoneNumberId: '',
      businessId: '',
      errorMessage: '',
      currentStep: '',
      loginDone: false,
      posted: false,
      timer: 0
    };
    attempt = a;
    retryNote.hidden = true;
    failedNote.hidden = true;
    setState('launching');
    var extras = { setup: {}, sessionInfoVersion: '3' };
    if (cfg.coexistence) {
      extras.featureType = 'whatsapp_business_app_onboarding';
    }
    try {
      window.FB.login(function (response) {
        onLogin(a, response);
      }, {
        config_id: cfg.configId,
        response_type: 'code',
        override_default_response_type: true,
        extras: extras
      });
    } catch (err) {
      attempt = null;
      showReady(true);
    }
  }

  // ---- pairing the code with the message event -------------------------

  function onLogin(a, response) {
    if (a !== attempt || a.loginDone || a.posted) {
      return;
    }
    a.loginDone = true;
    var auth = response && response.authResponse;
    var code = auth && typeof auth.code === 'string' ? auth.code : '';
    if (code) {
      a.code = code;
      setState('processing');
      if (a.event) {
        submit(a);
      } else {
        a.timer = setTimeout(function () {
          submit(a);
        }, EVENT_WAIT_MS);
      }
      return;
    }
    if (own(END_EVENTS, a.event)) {
      setState('processing');
      submit(a);
      return;
    }
    // No code: the CANCEL/ERROR event may still be on its way.
    a.timer = setTimeout(function () {
      closedWithoutOutcome(a);
    }, CLOSE_GRACE_MS);
  }

  function closedWithoutOutcome(a) {
    if (a !== attempt || a.posted) {
      return;
    }
    // Nothing to report: the session stays "started" and may be retried.
    attempt = null;
    showReady(true);
  }

  function parseMessage(data) {
    if (typeof data === 'string') {
      var s = data.trim();
      if (s.charAt(0) !== '{') {
        return null; // SDK chatter
      }
      try {
        return JSON.parse(s);
      } catch (err) {
        return null;
      }
    }
    if (data && typeof data === 'object') {
      return data;
    }
    return null;
  }

  function text(v) {
    if (typeof v === 'number' && isFinite(v)) {
      return String(v);
    }
    return typeof v === 'string' ? v.slice(0, MAX_FIELD) : '';
  }

  // trustedOrigin: is the event's origin one of cfg.messageOrigins — an
  // exact origin, or "scheme://*.host" for any subdomain of host (not host
  // itself, as in CSP)? event.origin is the browser's serialisation
  // (lowercase host, no default port), so a suffix test on the whole origin
  // is exact: "https://facebook.com.evil.test" and "https://evilfacebook.com"
  // do not end in ".facebook.com", and an explicit port would follow it.
  var LABELS = /^[a-z0-9-]+(\.[a-z0-9-]+)*$/;
  function trustedOrigin(origin) {
    if (typeof origin !== 'string') {
      return false;
    }
    for (var i = 0; i < cfg.messageOrigins.length; i++) {
      var o = cfg.messageOrigins[i];
      if (o === origin) {
        return true;
      }
      var star = o.indexOf('://*.');
      if (star < 0) {
        continue;
      }
      var scheme = o.slice(0, star + 3); // "https://"
      var suffix = o.slice(star + 4); // ".facebook.com"
      if (origin.length > scheme.length + suffix.length &&
          origin.slice(0, scheme.length) === scheme &&
          origin.slice(origin.length - suffix.length) === suffix &&
          LABELS.test(origin.slice(scheme.length, origin.length - suffix.length))) {
        return true;
      }
    }
    return false;
  }

  function onMessage(ev) {
    if (!trustedOrigin(ev.origin)) {
      return;
    }
    var msg = parseMessage(ev.data);
    if (!msg || msg.type !== 'WA_EMBEDDED_SIGNUP' || typeof msg.event !== 'string') {
      return;
    }
    var name = own(FINISH_EVENTS, msg.event) ? msg.event : own(END_EVENTS, msg.event);
    var a = attempt;
    if (!name || !a || a.posted) {
      return;
    }
    var d = msg.data && typeof msg.data === 'object' ? msg.data : {};
    a.event = name;
    a.wabaId = text(d.waba_id) || a.wabaId;
    a.phoneNumberId = text(d.phone_number_id) || a.phoneNumberId;
    a.businessId = text(d.business_id) || a.businessId;
    a.errorMessage = text(d.error_message);
    a.currentStep = text(d.current_step);
    if (!a.loginDone) {
      return; // the FB.login callback decides when to post
    }
    if (a.code || own(END_EVENTS, name)) {
      clearTimeout(a.timer);
      setState('processing');
      submit(a);
    }
  }

  function submit(a) {
    if (a !== attempt || a.posted || (a.code && own(postedCodes, a.code))) {
      return;
    }
    a.posted = true;
    clearTimeout(a.timer);
    var payload = {};
    if (a.code) {
      postedCodes[a.code] = true;
      payload.code = a.code;
      // A code means Meta granted access: only a finish event belongs with it.
      if (own(FINISH_EVENTS, a.event)) {
        payload.event = a.event;
      }
    } else {
      payload.event = a.event;
      if (a.errorMessage) {
        payload.errorMessage = a.errorMessage;
      }
      if (a.currentStep) {
        payload.currentStep = a.currentStep;
      }
    }
    if (a.wabaId) {
      payload.wabaId = a.wabaId;
    }
    if (a.phoneNumberId) {
      payload.phoneNumberId = a.phoneNumberId;
    }
    if (a.businessId) {
      payload.businessId = a.businessId;
    }
    setState('processing');
    request('POST', cfg.callbackUrl, JSON.stringify(payload)).then(function (res) {
      handleAnswer(res, false);
    }, function () {
      // Not known whether the server got it: ask it before offering a retry.
      checkStatus();
    });
  }

  // ---- talking to Dualhook ---------------------------------------------

  function request(method, url, payload) {
    var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = ctrl ? setTimeout(function () { ctrl.abort(); }, REQUEST_TIMEOUT_MS) : 0;
    var init = {
      method: method,
      credentials: 'same-origin',
      cache: 'no-store',
      redirect: 'error',
      headers: { Accept: 'application/json' }
    };
    if (payload !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = payload;
    }
    if (ctrl) {
      init.signal = ctrl.signal;
    }
    return fetch(url, init).then(function (res) {
      return res.text().then(function (t) {
        clearTimeout(timer);
        var b = null;
        try {
          b = t ? JSON.parse(t) : null;
        } catch (err) {
          b = null;
        }
        return { status: res.status, body: b && typeof b === 'object' ? b : {} };
      });
    }, function (err) {
      clearTimeout(timer);
      throw err;
    });
  }

  // Returns true when the answer settled the page (no more polling).
  function handleAnswer(res, polling) {
    var b = res.body;
    var status = typeof b.status === 'string' ? b.status : '';
    if (res.status === 200 && own(TERMINAL, status)) {
      finish(status, typeof b.redirectUrl === 'string' ? b.redirectUrl : '');
      return true;
    }
    if (res.status === 202 || (res.status === 200 && status === 'processing')) {
      if (!polling) {
        startPolling();
      }
      return false;
    }
    if (res.status === 200 && (status === 'pending' || status === 'started')) {
      // The server has no code for this session: let the user launch again — after a failed
      // attempt (b.retry), saying that it failed and that it was not their doing.
      stopPolling();
      attempt = null;
      showReady(false, !!(b.retry && typeof b.retry === 'object'));
      return true;
    }
    if (res.status === 410 || res.status === 404) {
      stopPolling();
      var gone = status || (b.error && b.error.details && b.error.details.status) || '';
      setState(gone === 'cancelled' ? 'cancelled' : 'expired');
      return true;
    }
    if (polling && (res.status === 429 || res.status >= 500)) {
      return false; // transient: keep polling with backoff
    }
    stopPolling();
    setState('error');
    return true;
  }

  function safeRedirect(url) {
    try {
      var u = new URL(url, window.location.href);
      return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : '';
    } catch (err) {
      return '';
    }
  }

  function finish(status, redirectUrl) {
    stopPolling();
    var target = safeRedirect(redirectUrl);
    setState(own(TERMINAL, status));
    if (!target || status === 'expired') {
      return;
    }
    redirectLink.href = target;
    redirectNote.hidden = false;
    live.textContent += ' ' + redirectNote.textContent.replace(/\s+/g, ' ');
    setTimeout(function () {
      window.location.assign(target);
    }, REDIRECT_DELAY_MS);
  }

  function startPolling() {
    stopPolling();
    poller = { started: Date.now(), delay: POLL_FIRST_MS, n: 0, timer: 0 };
    setState('processing');
    pollOnce(poller);
  }

  function stopPolling() {
    if (poller) {
      clearTimeout(poller.timer);
      poller = null;
    }
  }

  function pollOnce(p) {
    request('GET', cfg.statusUrl).then(function (res) {
      if (p !== poller) {
        return;
      }
      if (!handleAnswer(res, true)) {
        schedulePoll(p);
      }
    }, function () {
      if (p === poller) {
        schedulePoll(p); // offline for a moment: keep trying
      }
    });
  }

  function schedulePoll(p) {
    if (Date.now() - p.started > POLL_BUDGET_MS) {
      stopPolling();
      setState('slow');
      return;
    }
    p.n++;
    if (p.n > 5) {
      p.delay = Math.min(Math.round(p.delay * 1.5), POLL_MAX_MS);
    }
    p.timer = setTimeout(function () {
      pollOnce(p);
    }, p.delay);
  }

  // After a failed callback request, or on "try again": find out where the
  // session is before deciding what to show. A code is never posted twice.
  function checkStatus() {
    stopPolling();
    setState('processing');
    request('GET', cfg.statusUrl).then(function (res) {
      handleAnswer(res, false);
    }, function () {
      setState('error');
    });
  }

  // ---- start -----------------------------------------------------------

  connectButton.addEventListener('click', launch);
  byId('dh-check-again').addEventListener('click', startPolling);
  byId('dh-error-retry').addEventListener('click', checkStatus);
  byId('dh-reload').addEventListener('click', function () {
    window.location.reload();
  });
  window.addEventListener('message', onMessage);

  switch (cfg.status) {
    case 'processing':
      startPolling();
      break;
    case 'completed':
    case 'failed':
    case 'cancelled':
    case 'expired':
      // Normally answered by the 410 page; if rendered anyway, fetch the
      // decided outcome (and its redirect) once.
      checkStatusQuietly();
      break;
    default:
      loadSDK();
  }

  function checkStatusQuietly() {
    request('GET', cfg.statusUrl).then(function (res) {
      var b = res.body;
      if (res.status === 200 && own(TERMINAL, b.status) && typeof b.redirectUrl === 'string') {
        finish(b.status, b.redirectUrl);
      }
    }, function () {});
  }
})();

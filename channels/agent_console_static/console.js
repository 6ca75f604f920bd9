// Bekhedmetkom agent console. Plain modern JS, no build step, no external resources.
"use strict";

const BASE = "/webhooks/agent_console";
const I18N = JSON.parse(document.getElementById("i18n").textContent);
const LANG = document.documentElement.lang;
const t = (msg, params = {}) =>
  (I18N[msg] || msg).replace(/\{(\w+)\}/g, (_, k) => (k in params ? String(params[k]) : `{${k}}`));
const $ = (id) => document.getElementById(id);

let csrf = null;
let callToken = null; // the server's token for the open "new call" form (it picks the idempotency key)
let entityTimer = null;
let entityActive = -1;
let queueTimer = null;
let openHandoff = null;
let rateToken = null; // the server's token for the open centre-rating form
let rateCentre = null; // the centre its code names, as /api/centres answered (open or closed)
let centreTimer = null;
let centreSeq = 0; // an answer to an older lookup is ignored
let rateOffer = null; // a bad visit's complaint offer, with the caller it is for
let callCentre = null; // {code, entity}: the "new call" complaint was prefilled from a bad rating

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `http_${status}`);
    this.status = status;
    this.body = body || {};
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    if (csrf) headers["X-CSRF-Token"] = csrf;
  }
  let resp;
  try {
    resp = await fetch(BASE + path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, { error: "network" });
  }
  let data = null;
  try {
    data = await resp.json();
  } catch (e) {
    data = null;
  }
  if (resp.status === 401 && path !== "/api/login") {
    showLogin(t("Your session has ended. Please sign in again."));
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

function errorText(err) {
  const code = err.body && err.body.error;
  const map = {
    bad_credentials: t("Wrong username or password."),
    account_disabled: t("This account is disabled. Ask a supervisor."),
    rate_limited: t("Too many attempts. Try again in {s} seconds.", { s: err.body.retry_after || 60 }),
    not_found_or_unverified: t("No request matches this reference and verification."),
    malformed_reference: t("A reference has 10 digits."),
    bad_check_digit: t("This reference has a typing mistake: check the digits with the caller."),
    verification_required: t("Enter the last 4 digits of the caller's phone, or the report's PIN."),
    held_by_another_agent: t("Another agent is handling this conversation."),
    not_delivered: t("The message could not be delivered. Try again."),
    no_reply_address: t("This person cannot be reached by message on this channel."),
    sms_opted_out: t("This person has stopped text messages (STOP). They can text START to receive them again."),
    too_long_for_sms: t("A text message can carry at most {n} characters. Shorten the reply.", { n: err.body.max_length || 1600 }),
    case_store_unavailable: t("The request service is not answering. Try again in a minute."),
    network: t("No connection to the server."),
    form_expired: t("This form has expired. Check it and submit it again."),
    form_already_submitted: t("This form was already filed. Start a new call."),
    csrf_token_missing_or_wrong: t("Your session has ended. Please sign in again."),
    already_rated_today: t("This caller has already rated this centre today. A centre is rated once a day per caller."),
    centre_closed: t("This centre is closed: its visits cannot be rated."),
    unknown_centre: t("No service centre has this code. Check the code with the caller."),
  };
  return map[code] || t("Something went wrong. Try again.");
}

// --- views -------------------------------------------------------------------------------------

function showLogin(message) {
  csrf = null;
  stopQueue();
  $("app-view").hidden = true;
  $("logout").hidden = true;
  $("agent-name").textContent = "";
  $("login-view").hidden = false;
  $("login-error").textContent = message || "";
  $("login-username").focus();
}

function showApp(agent) {
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  $("logout").hidden = false;
  $("agent-name").textContent = t("Signed in as {name}", { name: agent.display_name });
  loadSectors();
  resetCall();
  resetRate();
  selectTab("tab-call");
  startQueue();
}

const TABS = ["tab-call", "tab-rate", "tab-lookup", "tab-queue"];
function selectTab(id) {
  for (const tab of TABS) {
    const on = tab === id;
    const el = $(tab);
    el.setAttribute("aria-selected", on ? "true" : "false");
    el.tabIndex = on ? 0 : -1;
    $(el.getAttribute("aria-controls")).hidden = !on;
  }
  const first = { "tab-call": "caller-phone", "tab-rate": "rate-phone", "tab-lookup": "lookup-reference", "tab-queue": "queue-list" }[id];
  const target = $(first);
  if (id === "tab-queue") {
    refreshQueue();
    const btn = target.querySelector("button");
    (btn || $(id)).focus();
  } else {
    target.focus();
  }
}

// --- sign in / out -------------------------------------------------------------------------------

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("login-error").textContent = "";
  try {
    const data = await api("POST", "/api/login", {
      username: $("login-username").value,
      password: $("login-password").value,
    });
    csrf = data.csrf_token;
    $("login-password").value = "";
    showApp(data.agent);
  } catch (err) {
    $("login-error").textContent = errorText(err);
    $("login-password").select();
  }
});

$("logout").addEventListener("click", async () => {
  try {
    await api("POST", "/api/logout", {});
  } catch (e) {
    /* signed out either way */
  }
  showLogin(t("You are signed out."));
});

// --- new call ----------------------------------------------------------------------------------

async function newFormToken() {
  // One token per opened form: a double submit or a retry files one request.
  callToken = (await api("GET", "/api/form_token")).form_token;
  return callToken;
}

function resetCall() {
  $("call-form").reset();
  $("call-form").hidden = false;
  $("call-result").hidden = true;
  $("req-entity").value = "";
  closeEntityList();
  clearFieldErrors($("call-form"));
  $("call-error").textContent = "";
  updateTypeFields();
  forgetCallCentre();
  callToken = null;
  newFormToken().catch(() => {}); // fetched again on submit if this fails
}

function entityName(e) {
  return (LANG === "ar" ? e.name_ar : e.name_en) || e.name_en || e.name_ar || e.id;
}

async function loadSectors() {
  const select = $("req-sector");
  if (select.options.length > 1) return;
  try {
    const data = await api("GET", "/api/catalogue/sectors");
    for (const s of data.sectors) {
      const opt = document.createElement("option");
      opt.value = s.id;
      opt.textContent = entityName(s);
      select.appendChild(opt);
    }
  } catch (err) {
    $("call-error").textContent = errorText(err);
  }
}

// The menu entry of a track that names its body (a human-rights grievance) carries its intent in
// data-track; the server presets the body, so the sector and entity fields step aside.
function selectedTrack() {
  const opt = $("req-type").selectedOptions[0];
  return (opt && opt.dataset.track) || "";
}

function updateTypeFields() {
  const type = $("req-type").value;
  const track = selectedTrack();
  $("complaint-fields").hidden = type !== "complaint";
  $("report-fields").hidden = type !== "report";
  $("human-rights-note").hidden = track !== "report_human_rights";
  $("sector-field").hidden = !!track;
  $("entity-field").hidden = !!track;
  $("req-sector").required = !track;
}
$("req-type").addEventListener("change", () => {
  updateTypeFields();
  if ($("req-type").value !== "complaint") forgetCallCentre();
});
$("req-sector").addEventListener("change", () => {
  $("req-entity").value = "";
  $("req-entity-q").value = "";
  closeEntityList();
  forgetCallCentre();
});

function closeEntityList() {
  $("req-entity-list").hidden = true;
  $("req-entity-list").textContent = "";
  $("req-entity-q").setAttribute("aria-expanded", "false");
  $("req-entity-q").removeAttribute("aria-activedescendant");
  entityActive = -1;
}

function chooseEntity(li) {
  if (callCentre && li.dataset.id !== callCentre.entity) forgetCallCentre(); // another body: an ordinary complaint
  $("req-entity").value = li.dataset.id;
  $("req-entity-q").value = li.textContent;
  if (li.dataset.sector && !$("req-sector").value) $("req-sector").value = li.dataset.sector;
  setFieldError("req-entity", "");
  closeEntityList();
}

async function searchEntities() {
  const q = $("req-entity-q").value.trim();
  const params = new URLSearchParams({ limit: "8" });
  if (q) params.set("q", q);
  if ($("req-sector").value) params.set("sector", $("req-sector").value);
  try {
    const data = await api("GET", "/api/catalogue/entities?" + params.toString());
    const list = $("req-entity-list");
    list.textContent = "";
    data.entities.forEach((e, i) => {
      const li = document.createElement("li");
      li.id = "entity-opt-" + i;
      li.setAttribute("role", "option");
      li.dataset.id = e.id;
      li.dataset.sector = e.sector || "";
      li.textContent = entityName(e);
      li.addEventListener("mousedown", (ev) => {
        ev.preventDefault();
        chooseEntity(li);
      });
      list.appendChild(li);
    });
    if (!data.entities.length) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = t("No entity matches.");
      list.appendChild(li);
    }
    list.hidden = false;
    $("req-entity-q").setAttribute("aria-expanded", "true");
    entityActive = -1;
  } catch (err) {
    setFieldError("req-entity", errorText(err));
  }
}

$("req-entity-q").addEventListener("input", () => {
  $("req-entity").value = "";
  clearTimeout(entityTimer);
  entityTimer = setTimeout(searchEntities, 200);
});
$("req-entity-q").addEventListener("focus", () => {
  if (!$("req-entity").value) searchEntities();
});
$("req-entity-q").addEventListener("blur", () => setTimeout(closeEntityList, 150));
$("req-entity-q").addEventListener("keydown", (ev) => {
  const options = Array.from($("req-entity-list").querySelectorAll("[role=option]"));
  if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
    ev.preventDefault();
    if ($("req-entity-list").hidden) {
      searchEntities();
      return;
    }
    if (!options.length) return;
    entityActive = (entityActive + (ev.key === "ArrowDown" ? 1 : -1) + options.length) % options.length;
    options.forEach((o, i) => o.setAttribute("aria-selected", i === entityActive ? "true" : "false"));
    $("req-entity-q").setAttribute("aria-activedescendant", options[entityActive].id);
    options[entityActive].scrollIntoView({ block: "nearest" });
  } else if (ev.key === "Enter" && !$("req-entity-list").hidden && !ev.ctrlKey) {
    ev.preventDefault();
    const pick = options[entityActive >= 0 ? entityActive : 0];
    if (pick) chooseEntity(pick);
  } else if (ev.key === "Escape") {
    closeEntityList();
  }
});

function setFieldError(id, message) {
  const el = $(id + "-error");
  const input = $(id === "req-entity" ? "req-entity-q" : id);
  if (el) el.textContent = message;
  if (input) input.setAttribute("aria-invalid", message ? "true" : "false");
}

function clearFieldErrors(form) {
  form.querySelectorAll(".error").forEach((e) => (e.textContent = ""));
  form.querySelectorAll("[aria-invalid]").forEach((e) => e.setAttribute("aria-invalid", "false"));
}

const FIELD_IDS = {
  caller_phone: "caller-phone",
  type: "req-type",
  sector: "req-sector",
  entity: "req-entity",
  pillar: "req-pillar",
  description: "req-description",
};
const FIELD_MESSAGES = {
  invalid_phone: "Enter a valid phone number.",
  required: "This field is required.",
  too_short: "Describe the request in at least two words (12 characters).",
  too_long: "The description is too long (2,000 characters at most).",
};

$("call-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = $("call-form");
  clearFieldErrors(form);
  $("call-error").textContent = "";
  const fd = new FormData(form);
  const body = {
    form_token: null,
    caller_phone: fd.get("caller_phone"),
    caller_language: fd.get("caller_language"),
    type: fd.get("type"),
    track: selectedTrack(),
    sector: selectedTrack() ? "" : fd.get("sector"),
    entity: selectedTrack() ? "" : $("req-entity").value,
    pillar: fd.get("pillar") || "",
    importance: fd.get("importance") || "normal",
    description: fd.get("description"),
    contact_ok: $("req-contact-ok").checked,
    centre_code: callCentre ? callCentre.code : "",
  };
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    body.form_token = callToken || (await newFormToken());
    const data = await api("POST", "/api/requests", body);
    showCallResult(data);
  } catch (err) {
    if (err.status === 422 && err.body.fields) {
      let first = null;
      for (const [field, code] of Object.entries(err.body.fields)) {
        const id = FIELD_IDS[field];
        if (!id) continue;
        setFieldError(id, t(FIELD_MESSAGES[code] || "This field is required."));
        first = first || (id === "req-entity" ? "req-entity-q" : id);
      }
      $("call-error").textContent = t("Please correct the marked fields.");
      if (first) $(first).focus();
    } else {
      if (err.body.error === "form_expired") callToken = null; // the next submit gets a fresh one
      $("call-error").textContent = errorText(err);
    }
  } finally {
    button.disabled = false;
  }
});

function showCallResult(data) {
  $("call-form").hidden = true;
  $("result-reference").textContent = data.reference_display;
  $("result-pin-row").hidden = !data.pin;
  $("result-pin").textContent = data.pin || "";
  const sms = {
    sent: t("The reference was sent to the caller by SMS."),
    failed: t("The SMS could not be sent: read the reference to the caller."),
    skipped_anonymous: t("No SMS for an anonymous report: read the reference and PIN to the caller."),
    skipped_replay: t("This request was already registered; the SMS was sent then."),
    skipped_opted_out: t("The caller has stopped text messages (STOP): read the reference to the caller."),
  }[data.sms];
  $("result-sms").textContent = sms || "";
  $("call-result").hidden = false;
  $("call-result").focus();
}
$("new-call").addEventListener("click", () => {
  resetCall();
  $("caller-phone").focus();
});

// --- centre rating -------------------------------------------------------------------------------
// A caller rates a service-centre visit (issue 13): the code names the centre (in the agent's
// language) before anything is sent; a bad score offers the complaint the chat offers, prefilled.

const ANY_DIGIT = /[0-9\u0660-\u0669\u06F0-\u06F9]/g; // the server folds Arabic-Indic digits

async function newRateToken() {
  rateToken = (await api("GET", "/api/form_token")).form_token;
  return rateToken;
}

function resetRate() {
  $("rate-form").reset();
  $("rate-form").hidden = false;
  $("rate-result").hidden = true;
  clearFieldErrors($("rate-form"));
  $("rate-error").textContent = "";
  $("rate-centre-found").textContent = "";
  rateCentre = null;
  rateOffer = null;
  rateToken = null;
  newRateToken().catch(() => {}); // fetched again on submit if this fails
}

// The typed code's 4 digits (spaces dropped, as in "41 31"), or null.
function typedCode() {
  const raw = $("rate-centre").value.replace(/\s/g, "");
  const digits = raw.match(ANY_DIGIT) || [];
  return digits.length === 4 && digits.join("") === raw ? raw : null;
}

// The centre the typed code names, shown with its entity; null (and a field error) if there is
// no such centre or it is closed. Answers to an earlier code are dropped.
async function lookUpCentre() {
  clearTimeout(centreTimer);
  rateCentre = null;
  $("rate-centre-found").textContent = "";
  setFieldError("rate-centre", "");
  const code = typedCode();
  if (!code) {
    setFieldError("rate-centre", $("rate-centre").value.trim() ? t("A centre code has 4 digits.") : t("This field is required."));
    return null;
  }
  const seq = ++centreSeq;
  try {
    const data = await api("GET", "/api/centres?" + new URLSearchParams({ code }).toString());
    if (seq !== centreSeq) return null;
    rateCentre = data.centre;
    if (data.centre.status !== "open") {
      setFieldError("rate-centre", t("{centre} is closed: its visits cannot be rated.", { centre: entityName(data.centre) }));
      return null;
    }
    $("rate-centre-found").textContent = t("{centre} ({entity})", { centre: entityName(data.centre), entity: entityName(data.centre.entity) });
    return data.centre;
  } catch (err) {
    if (seq !== centreSeq) return null;
    setFieldError("rate-centre", err.status === 404
      ? t("No service centre has the code {code}. Check the code with the caller.", { code })
      : err.status === 422 ? t("A centre code has 4 digits.") : errorText(err));
    return null;
  }
}

$("rate-centre").addEventListener("input", () => {
  rateCentre = null;
  $("rate-centre-found").textContent = "";
  setFieldError("rate-centre", "");
  clearTimeout(centreTimer);
  if (typedCode()) centreTimer = setTimeout(lookUpCentre, 150);
});
$("rate-centre").addEventListener("keydown", async (ev) => {
  if (ev.key === "Enter" && !ev.ctrlKey) {
    ev.preventDefault(); // Enter confirms the code and moves on to the score, it does not submit
    const known = rateCentre && rateCentre.status === "open" && typedCode() ? rateCentre : null;
    if (known || (await lookUpCentre())) focusScore();
  }
});

function focusScore() {
  ($("rate-form").querySelector("input[name=score]:checked") || $("rate-form").querySelector("input[name=score]")).focus();
}

// The keys 1 to 5 pick the score (by physical key, so the Arabic layout works too).
$("rate-score").addEventListener("keydown", (ev) => {
  const m = /^(?:Digit|Numpad)([1-5])$/.exec(ev.code);
  if (!m || ev.altKey || ev.ctrlKey || ev.metaKey) return;
  ev.preventDefault();
  const radio = $("rate-form").querySelector(`input[name=score][value="${m[1]}"]`);
  radio.checked = true;
  radio.focus();
  scoreChosen();
});
$("rate-score").addEventListener("change", scoreChosen);

function scoreChosen() {
  setFieldError("rate-score", "");
  // The form-wide "correct the marked fields" goes once nothing is marked any more.
  if (!$("rate-form").querySelector("[aria-invalid=true]")) $("rate-error").textContent = "";
}

const RATE_FIELDS = { caller_phone: "rate-phone", centre_code: "rate-centre", score: "rate-score", comment: "rate-comment" };
const RATE_MESSAGES = {
  caller_phone: "Enter a valid phone number.",
  centre_code: "A centre code has 4 digits.",
  score: "Choose a score from 1 to 5.",
  comment: "The comment is too long (1,000 characters at most).",
};

$("rate-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = $("rate-form");
  clearFieldErrors(form);
  $("rate-error").textContent = "";
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const code = typedCode();
    const centre = rateCentre && rateCentre.status === "open" && code ? rateCentre : await lookUpCentre();
    const score = form.querySelector("input[name=score]:checked");
    if (!score) setFieldError("rate-score", t("Choose a score from 1 to 5."));
    if (!centre || !score) {
      $("rate-error").textContent = t("Please correct the marked fields.");
      (!centre ? $("rate-centre") : form.querySelector("input[name=score]")).focus();
      return;
    }
    const body = {
      form_token: rateToken || (await newRateToken()),
      caller_phone: $("rate-phone").value,
      caller_language: new FormData(form).get("rate_language"),
      centre_code: code,
      score: Number(score.value),
      pillars: Array.from(form.querySelectorAll("input[name=pillars]:checked"), (b) => b.value),
      comment: $("rate-comment").value.trim() || null,
    };
    const data = await api("POST", "/api/centre_ratings", body);
    showRateResult(data, body);
  } catch (err) {
    if (err.status === 422 && err.body.fields) {
      let first = null;
      for (const field of Object.keys(err.body.fields)) {
        const id = RATE_FIELDS[field];
        if (!id) continue;
        setFieldError(id, t(RATE_MESSAGES[field]));
        first = first || (id === "rate-score" ? form.querySelector("input[name=score]") : $(id));
      }
      $("rate-error").textContent = t("Please correct the marked fields.");
      if (first) first.focus();
    } else if (["unknown_centre", "centre_closed"].includes(err.body.error)) {
      setFieldError("rate-centre", errorText(err));
      $("rate-centre").focus();
    } else {
      if (err.body.error === "form_expired") rateToken = null; // the next submit gets a fresh one
      $("rate-error").textContent = errorText(err);
    }
  } finally {
    button.disabled = false;
  }
});

function showRateResult(data, sent) {
  $("rate-form").hidden = true;
  $("rate-result-text").textContent = data.created
    ? t("The rating of {centre} is recorded. A rating gets no reference.", { centre: entityName(data.centre) })
    : t("This rating was already recorded.");
  const offer = data.complaint_offer || null;
  rateOffer = offer && { offer, phone: sent.caller_phone, language: sent.caller_language, centre: data.centre };
  $("rate-offer").hidden = !offer;
  if (offer) {
    $("rate-offer-text").textContent = t("A low score: offer the caller a complaint to {entity}, filled in with what they said.",
      { entity: entityName(offer.entity) });
  }
  $("rate-result").hidden = false;
  (offer ? $("rate-complain") : $("rate-again")).focus();
}

$("rate-again").addEventListener("click", () => {
  resetRate();
  $("rate-phone").focus();
});

// The one-step complaint: the "new call" form, filled in from the rating, for the agent to check and send.
$("rate-complain").addEventListener("click", async () => {
  if (!rateOffer) return;
  const { offer, phone, language, centre } = rateOffer;
  rateOffer = null; // offered once: the form it opens is the one complaint
  $("rate-offer").hidden = true;
  selectTab("tab-call");
  resetCall();
  $("caller-phone").value = phone;
  const lang = $("call-form").querySelector(`input[name=caller_language][value="${language}"]`);
  if (lang) lang.checked = true;
  $("req-type").value = "complaint";
  updateTypeFields();
  await loadSectors();
  $("req-sector").value = offer.sector;
  $("req-entity").value = offer.entity.id;
  $("req-entity-q").value = entityName(offer.entity);
  $("req-pillar").value = offer.pillar || "";
  $("req-description").value = offer.description || "";
  callCentre = { code: offer.centre_code, entity: offer.entity.id };
  $("from-rating").textContent = t("This complaint follows the caller's rating of {centre}: its description will start with the centre's name.",
    { centre: entityName(centre) });
  $("from-rating").hidden = false;
  $(offer.pillar ? "req-description" : "req-pillar").focus();
});

function forgetCallCentre() {
  callCentre = null;
  $("from-rating").hidden = true;
  $("from-rating").textContent = "";
}

// --- look up -----------------------------------------------------------------------------------

const STATUS = {
  submitted: "Submitted",
  in_progress: "In progress",
  answered: "Answered",
  closed: "Closed",
  rejected: "Rejected",
  reopened: "Reopened",
};
// A request's type in the words of the "new call" menu (one set of words for both): by the entry of
// its track (a report to the National Centre for Human Rights is a "Human-rights grievance", not a
// "Report a violation"), else by its type's own entry.
function typeLabel(type, track) {
  const options = Array.from($("req-type").options).filter((o) => o.value === type);
  const entry = options.find((o) => o.dataset.track && o.dataset.track === track) || options.find((o) => !o.dataset.track);
  return entry ? entry.textContent.trim() : type;
}

function fmtDate(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  return d.toLocaleString(LANG === "ar" ? "ar-JO" : "en-GB", {
    dateStyle: "medium",
    timeStyle: "short",
    timeZone: "Asia/Amman",
    numberingSystem: "latn",
  });
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

$("lookup-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("lookup-error").textContent = "";
  $("lookup-result").hidden = true;
  try {
    const data = await api("POST", "/api/lookup", {
      reference: $("lookup-reference").value,
      phone_tail: $("lookup-tail").value,
      pin: $("lookup-pin").value,
    });
    showLookup(data.request);
  } catch (err) {
    $("lookup-error").textContent = errorText(err);
  }
});

function showLookup(r) {
  const box = $("lookup-result");
  box.textContent = "";
  box.append(el("h3", {}, t("Request {reference}", { reference: r.reference_display || r.reference })));
  const dl = el("dl");
  const add = (k, v) => {
    if (v) dl.append(el("dt", {}, k), el("dd", {}, v));
  };
  add(t("Status"), t(STATUS[r.status] || r.status));
  add(t("Type"), typeLabel(r.type, r.track));
  add(t("Government entity"), r.entity ? entityName(r.entity) : "");
  add(t("Filed on"), fmtDate(r.created_at));
  add(t("Due by"), fmtDate(r.due_at));
  box.append(dl);
  if (r.answer) {
    box.append(el("h4", {}, t("The entity's reply")), el("blockquote", {}, String(r.answer.text || r.answer)));
  }
  if (Array.isArray(r.timeline) && r.timeline.length) {
    const table = el("table", {}, el("caption", {}, t("Timeline")));
    table.append(el("tr", {}, el("th", { scope: "col" }, t("When")), el("th", { scope: "col" }, t("Status")), el("th", { scope: "col" }, t("Note"))));
    for (const step of r.timeline) {
      table.append(el("tr", {}, el("td", {}, fmtDate(step.at)), el("td", {}, t(STATUS[step.status] || step.status)), el("td", {}, step.note || "")));
    }
    box.append(table);
  }
  box.hidden = false;
  box.focus();
}

// --- handoff queue -------------------------------------------------------------------------------

function stopQueue() {
  clearInterval(queueTimer);
  queueTimer = null;
}
function startQueue() {
  stopQueue();
  refreshQueue();
  queueTimer = setInterval(() => {
    refreshQueue();
    if (openHandoff && !$("queue-view").hidden) loadConversation(openHandoff, false);
  }, 4000);
}

const CHANNELS = { messenger: "Messenger", sms: "SMS", voice: "Phone call (answered by SMS)" };

async function refreshQueue() {
  if (!csrf) return;
  let data;
  try {
    data = await api("GET", "/api/handoffs");
  } catch (e) {
    return;
  }
  const waiting = data.handoffs.filter((h) => h.state === "waiting").length;
  $("queue-count").textContent = waiting ? String(waiting) : "";
  const list = $("queue-list");
  const focusedId = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.hid : null;
  list.textContent = "";
  if (!data.handoffs.length) {
    list.append(el("li", { class: "empty" }, t("No one is waiting.")));
    return;
  }
  for (const h of data.handoffs) {
    const who = h.state === "waiting" ? t("Waiting") : h.mine ? t("With you") : t("With {name}", { name: h.held_by || "" });
    // Each part isolated (<bdi>) so Arabic and Latin pieces do not reorder each other.
    const label = el("span", {}, el("bdi", {}, t(CHANNELS[h.channel] || h.channel)), " · ",
      el("bdi", { lang: h.language }, h.language === "ar" ? "العربية" : "English"), " · ", el("bdi", {}, fmtDate(h.created_at)));
    const li = el("li", { class: h.mine ? "mine" : "" }, label, el("span", { class: "state" }, who));
    if (h.state === "waiting" || h.mine) {
      const b = el("button", { type: "button", "data-hid": h.id }, h.mine ? t("Open") : t("Take"));
      b.addEventListener("click", () => takeConversation(h));
      li.append(b);
    }
    list.append(li);
  }
  if (focusedId) {
    const again = list.querySelector(`[data-hid="${focusedId}"]`);
    if (again) again.focus();
  }
}

async function takeConversation(h) {
  try {
    if (!h.mine) await api("POST", `/api/handoffs/${h.id}/take`, {});
    openHandoff = h.id;
    await loadConversation(h.id, true);
    refreshQueue();
  } catch (err) {
    alertQueue(errorText(err));
    refreshQueue();
  }
}

function alertQueue(message) {
  $("reply-error").textContent = message;
}

async function loadConversation(id, focus) {
  let h;
  try {
    h = await api("GET", `/api/handoffs/${id}`);
  } catch (err) {
    openHandoff = null;
    $("conversation").hidden = true;
    return;
  }
  $("conversation").hidden = false;
  $("conversation-title").replaceChildren(el("bdi", {}, t(CHANNELS[h.channel] || h.channel)), " · ",
    el("bdi", { lang: h.language }, h.language === "ar" ? "العربية" : "English"));
  const ol = $("transcript");
  const atBottom = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 20;
  ol.textContent = "";
  for (const m of h.transcript) {
    const who = m.who === "user" ? t("Citizen") : m.who === "agent" ? m.agent || t("Agent") : t("Assistant");
    ol.append(el("li", { class: m.who, dir: "auto" }, el("span", { class: "who" }, who), el("span", { class: "text" }, m.text)));
  }
  if (atBottom || focus) ol.scrollTop = ol.scrollHeight;
  if (focus) $("reply-text").focus();
}

$("reply-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = $("reply-text").value.trim();
  $("reply-error").textContent = "";
  if (!text || !openHandoff) return;
  try {
    await api("POST", `/api/handoffs/${openHandoff}/reply`, { text });
    $("reply-text").value = "";
    await loadConversation(openHandoff, true);
  } catch (err) {
    $("reply-error").textContent = errorText(err);
  }
});

$("resume").addEventListener("click", async () => {
  if (!openHandoff) return;
  try {
    await api("POST", `/api/handoffs/${openHandoff}/resume`, {});
    openHandoff = null;
    $("conversation").hidden = true;
    await refreshQueue();
    $("tab-queue").focus();
  } catch (err) {
    $("reply-error").textContent = errorText(err);
  }
});

// --- keyboard ----------------------------------------------------------------------------------

for (const id of TABS) $(id).addEventListener("click", () => selectTab(id));
$("app-view").querySelector("[role=tablist]").addEventListener("keydown", (ev) => {
  const i = TABS.indexOf(document.activeElement.id);
  if (i < 0) return;
  const rtl = document.documentElement.dir === "rtl";
  const next = { ArrowRight: rtl ? -1 : 1, ArrowLeft: rtl ? 1 : -1 }[ev.key];
  if (next) {
    ev.preventDefault();
    selectTab(TABS[(i + next + TABS.length) % TABS.length]);
  }
});

// Alt+letter shortcuts by physical key (ev.code), so they work with the Arabic keyboard layout.
const SHORTCUTS = { KeyN: "tab-call", KeyR: "tab-rate", KeyL: "tab-lookup", KeyQ: "tab-queue" };
document.addEventListener("keydown", (ev) => {
  if (ev.altKey && !ev.ctrlKey && !ev.metaKey) {
    if (SHORTCUTS[ev.code] && !$("app-view").hidden) {
      ev.preventDefault();
      selectTab(SHORTCUTS[ev.code]);
      return;
    }
    if (ev.code === "KeyG") {
      ev.preventDefault();
      $("lang-switch").click();
      return;
    }
  }
  if (ev.ctrlKey && ev.key === "Enter") {
    const form = document.activeElement && document.activeElement.form;
    if (form) {
      ev.preventDefault();
      form.requestSubmit();
    }
  }
});

// --- start -------------------------------------------------------------------------------------

(async () => {
  try {
    const data = await api("GET", "/api/session");
    csrf = data.csrf_token;
    showApp(data.agent);
  } catch (e) {
    showLogin("");
  }
})();
